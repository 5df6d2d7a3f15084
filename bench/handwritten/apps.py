from django.apps import AppConfig


class HandwrittenConfig(AppConfig):
    name = "bench.handwritten"
    label = "handwritten"
    default_auto_field = "django.db.models.BigAutoField"
