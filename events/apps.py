from django.apps import AppConfig
from django.core import checks


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Domain events"

    def ready(self):
        from . import checks as event_checks

        checks.register(event_checks.check_stream_maxlen)
        checks.register(event_checks.check_visibility_timeout)
        checks.register(event_checks.check_celery_keeps_work)
