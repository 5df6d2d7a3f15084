from django.contrib import admin

from businessobjects.admin_scoping import CompanyScopedAdminMixin

from .models import OutboxEvent


class SentFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("pending", "Pending"), ("sent", "Sent")]

    def queryset(self, request, queryset):
        if self.value() == "pending":
            return queryset.filter(sent_at__isnull=True)
        if self.value() == "sent":
            return queryset.filter(sent_at__isnull=False)
        return queryset


@admin.register(OutboxEvent)
class OutboxEventAdmin(CompanyScopedAdminMixin, admin.ModelAdmin):
    """Read-only: the outbox is written by the services and the relay only.

    Company admins see their companies' events; superusers see all.
    """

    list_display = (
        "id",
        "position",
        "event_type",
        "aggregate_id",
        "version",
        "company_id",
        "correlation_id",
        "occurred_at",
        "sent_at",
        "attempts",
    )
    list_filter = (SentFilter, "aggregate_type", "event_type")
    search_fields = ("=correlation_id", "=aggregate_id")
    date_hierarchy = "occurred_at"
    ordering = ("-id",)

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
