"""Admin pages of the audit trail, mounted under ``/admin/audit/`` (merp.urls)."""

from django.contrib import admin
from django.urls import path

from . import admin_views

urlpatterns = [
    path(
        "log/",
        admin.site.admin_view(admin_views.audit_log),
        name="merp-admin-audit-log",
    ),
    path(
        "undo/<str:company_id>/<path:correlation_id>/",
        admin.site.admin_view(admin_views.undo_request),
        name="merp-admin-undo",
    ),
]
