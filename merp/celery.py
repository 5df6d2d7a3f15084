import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "merp.settings")

app = Celery("merp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
