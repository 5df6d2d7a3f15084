# A complete business object in under 15 lines: model plus registration.
from django.db import models

from businessobjects.models import BusinessObject
from businessobjects.registry import register


@register(search_fields=["name", "sku"], filter_fields=["sku"])
class Product(BusinessObject):
    sku = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=12, decimal_places=2, default=0)

    class Meta(BusinessObject.Meta):
        constraints = [models.UniqueConstraint(fields=["company", "sku"], name="sku")]
