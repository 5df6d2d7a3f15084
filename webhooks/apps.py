from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery.signals import task_postrun

        from . import tasks

        # Fan new events out right after the relay has sequenced them (the beat
        # sweep covers whatever this misses).
        task_postrun.connect(
            tasks.after_forward_outbox, dispatch_uid="webhooks_after_forward_outbox"
        )
