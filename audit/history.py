"""History for business objects, built on django-simple-history.

``track(model)`` gives a model a history table whose rows also carry the
correlation id and the change set ``{field: {old, new}}`` the service computed,
with an index that starts with company and object (history tables grow large).
"""

import hashlib

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from simple_history import register as _register_history
from simple_history.models import HistoricalRecords

from businessobjects import context


class HistoryBase(models.Model):
    correlation_id = models.CharField(max_length=100, blank=True, default="")
    changes = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        abstract = True


class MerpHistoricalRecords(HistoricalRecords):
    def get_meta_options(self, model):
        options = super().get_meta_options(model)
        digest = hashlib.sha1(model._meta.label_lower.encode()).hexdigest()[:6]
        options["indexes"] = [
            models.Index(
                fields=["company", "id", "-history_date"],
                name=f"h_{model._meta.model_name[:18]}_{digest}",
            )
        ]
        return options

    def get_history_user(self, instance):
        # Services set _history_user; tasks and commands rely on the context.
        user = getattr(instance, "_history_user", None)
        return user if user is not None else context.get_user()


def track(model) -> None:
    """Attach history to ``model`` (called by ``businessobjects.registry.register``)."""
    _register_history(
        model,
        records_class=MerpHistoricalRecords,
        bases=[HistoryBase],
        excluded_fields=["updated_at"],
        user_related_name="+",
    )
