from django.urls import path

from .api import AuditLogView
from .undo_api import UndoView

urlpatterns = [
    path("", AuditLogView.as_view(), name="audit-log"),
    path("undo/", UndoView.as_view(), name="audit-undo"),
]
