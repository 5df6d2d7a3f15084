from django.urls import path

from .api import AuditLogView

urlpatterns = [path("", AuditLogView.as_view(), name="audit-log")]
