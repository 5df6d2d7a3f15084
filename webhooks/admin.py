"""Admin: company-scoped endpoints (writes through ``webhooks.services``) and a
read-only delivery log with a replay action; scoping from admin_scoping."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html

from businessobjects.admin_scoping import CompanyScopedAdminMixin

from . import services
from .models import Delivery, Endpoint


class EndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https")

    class Meta:
        model = Endpoint
        fields = [
            "company",
            "url",
            "event_types",
            "changed_fields",
            "is_active",
            "description",
        ]
        help_texts = {
            "event_types": 'JSON list: ["partner.created", "contact.*"] or ["*"].',
            "changed_fields": 'JSON list (["email", "extensions.tier"]) or null: '
            "updated events only when one of these fields changed.",
        }

    def clean(self):
        cleaned = super().clean()
        data = {k: cleaned[k] for k in services.EDITABLE if k in cleaned}
        try:
            self._cleaned_by_service = services._clean(
                data, current=self.instance if self.instance.pk else None
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        return cleaned


@admin.register(Endpoint)
class EndpointAdmin(CompanyScopedAdminMixin, admin.ModelAdmin):
    form = EndpointForm
    list_display = ("url", "company", "is_active", "description", "deliveries_link")
    list_filter = ("is_active",)
    search_fields = ("url", "description")
    readonly_fields = ("previous_secret_expires_at", "created_at", "updated_at")
    actions = ["rotate_secret"]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        return readonly + ["company"] if obj is not None else readonly

    @admin.display(description="deliveries")
    def deliveries_link(self, obj):
        url = reverse("admin:webhooks_delivery_changelist")
        return format_html('<a href="{}?endpoint__id__exact={}">log</a>', url, obj.pk)

    def save_model(self, request, obj, form, change):
        data = {k: form.cleaned_data[k] for k in services.EDITABLE}
        if change:
            services.endpoint_update(obj, **data)
            return
        created = services.endpoint_create(company=form.cleaned_data["company"], **data)
        obj.pk = created.pk
        obj.__dict__.update(created.__dict__)
        self.message_user(
            request,
            f"The endpoint's signing secret (shown only now): {created.secret}",
            messages.WARNING,
        )

    def delete_model(self, request, obj):
        services.endpoint_delete(obj)

    @admin.action(description="Rotate the signing secret (old one valid 24 h)")
    def rotate_secret(self, request, queryset):
        for endpoint in queryset:
            rotated = services.rotate_secret(endpoint)
            self.message_user(
                request,
                f"New secret of {rotated.url} (shown only now): {rotated.secret}",
                messages.WARNING,
            )


@admin.register(Delivery)
class DeliveryAdmin(CompanyScopedAdminMixin, admin.ModelAdmin):
    """Read-only: deliveries are written by the fan-out and the workers."""

    list_display = (
        "id",
        "event_type",
        "aggregate_id",
        "endpoint",
        "state",
        "attempts",
        "status_code",
        "duration_ms",
        "next_attempt_at",
        "occurred_at",
    )
    list_filter = ("state", "event_type")
    search_fields = ("=event_id", "=aggregate_id")
    ordering = ("-id",)
    actions = ["replay"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Replay the selected deliveries")
    def replay(self, request, queryset):
        count = 0
        for row in queryset.select_related("endpoint"):
            count += services.replay(row.endpoint, event_id=row.event_id).total
        self.message_user(request, f"{count} deliveries queued again.")
