"""History for business objects, built on django-simple-history.

``track(model)`` gives a model a history table whose rows also carry the
correlation id, the change set ``{field: {old, new}}`` the service computed and the
change reason, with indexes that start with company (history tables grow large):

- ``(company, id, -history_date)``: one object's history (``.../{id}/history/``);
- ``(company, -history_date, -history_id)``: the company's audit log, newest first;
- ``(company, correlation_id)``: everything one request or job did.
"""

import hashlib

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from simple_history import register as _register_history
from simple_history import utils as _history_utils
from simple_history.models import HistoricalRecords

from businessobjects import context
from businessobjects.conf import merp_settings


class HistoryBase(models.Model):
    correlation_id = models.CharField(max_length=100, blank=True, default="")
    changes = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        abstract = True


def _index_name(prefix: str, model) -> str:
    # Index names are global in PostgreSQL and limited to 30 characters in Django.
    digest = hashlib.sha1(model._meta.label_lower.encode()).hexdigest()[:6]
    return f"{prefix}_{model._meta.model_name[:18]}_{digest}"


class MerpHistoricalRecords(HistoricalRecords):
    def get_meta_options(self, model):
        options = super().get_meta_options(model)
        options["indexes"] = [
            models.Index(
                fields=["company", "id", "-history_date"],
                name=_index_name("h", model),
            ),
            models.Index(
                fields=["company", "-history_date", "-history_id"],
                name=_index_name("hd", model),
            ),
            models.Index(
                fields=["company", "correlation_id"],
                name=_index_name("hc", model),
            ),
        ]
        return options

    def get_history_user(self, instance):
        # Only saves outside the services get here (they write their history with
        # audit.record): simple-history's _history_user, else the context's user.
        user = getattr(instance, "_history_user", None)
        return user if user is not None else context.get_user()

    def get_change_reason_for_object(self, instance, history_type, using):
        # simple-history's documented hook: the object's reason, else the context's.
        reason = _history_utils.get_change_reason_from_object(instance)
        return reason if reason else context.get_change_reason()

    # AUDIT_ENABLED is the one switch: simple-history's own SIMPLE_HISTORY_ENABLED
    # follows it (merp.settings), but a project that sets only AUDIT_ENABLED must
    # still get no history rows, deletes included. The services write history
    # with audit.record and set skip_history_when_saving, which simple-history's
    # post_delete ignores: honoured here.
    def post_save(self, instance, created, using=None, **kwargs):
        if merp_settings.AUDIT_ENABLED:
            super().post_save(instance, created, using=using, **kwargs)

    def post_delete(self, instance, using=None, **kwargs):
        if merp_settings.AUDIT_ENABLED and not getattr(
            instance, "skip_history_when_saving", False
        ):
            super().post_delete(instance, using=using, **kwargs)


def track(model) -> None:
    """Attach history to ``model`` (called by ``businessobjects.registry.register``)."""
    _register_history(
        model,
        records_class=MerpHistoricalRecords,
        bases=[HistoryBase],
        excluded_fields=["updated_at"],
        user_related_name="+",
        # Reasons are validated to MAX_REASON_LENGTH; a text column never truncates.
        history_change_reason_field=models.TextField(null=True, blank=True),
        # The composite indexes above start with company; single-column indexes on
        # these copied foreign keys would only slow every history insert down.
        no_db_index=["company", "created_by", "updated_by"],
    )
