from django.dispatch import receiver
from simple_history.signals import pre_create_historical_record

from businessobjects import context


@receiver(pre_create_historical_record, dispatch_uid="merp_audit_fill_history")
def fill_history(sender, instance, history_instance, **kwargs):
    if not hasattr(history_instance, "correlation_id"):
        return
    history_instance.correlation_id = context.get_correlation_id()
