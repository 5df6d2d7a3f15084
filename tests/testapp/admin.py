# A project's own admin for one of its business objects: subclass
# BusinessObjectAdmin and register it as usual; the framework builds admins only
# for the objects that have none (docs/developer-guide.md, "Customizing the admin").
from django.contrib import admin

from businessobjects.admin import BusinessObjectAdmin

from .models import Product


@admin.register(Product)
class ProductAdmin(BusinessObjectAdmin):
    list_display = ("sku", "name", "price", "company", "updated_at")
    search_fields = ("sku", "name")
    ordering = ("sku",)
