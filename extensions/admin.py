"""Admin for custom field definitions: define, edit, order and deactivate.

Company admins see and change only their companies' fields; every save and
delete goes through ``extensions.services`` (a type change converts the values or
is refused; deleting a field that holds values deactivates it).
"""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from businessobjects.admin_scoping import CompanyScopedAdminMixin
from businessobjects.registry import registrations

from . import services, types
from .models import ExtensionValue, FieldDefinition


def _model_choices():
    return [(r.name, r.model._meta.verbose_name.capitalize()) for r in registrations()]


class FieldDefinitionForm(forms.ModelForm):
    model = forms.ChoiceField(label="Business object", choices=_model_choices)
    field_type = forms.ChoiceField(
        label="Type", choices=[(name, name) for name in types.FIELD_TYPES]
    )
    choices = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Choice fields: the allowed values, one per line.",
    )
    default = forms.CharField(
        required=False,
        help_text="As you would type the value: 12.50, 2025-12-31, true; JSON for "
        "json fields. Applied when an object is created without this field.",
    )
    min_value = forms.CharField(
        required=False, help_text="Integer, decimal, date and datetime fields."
    )
    max_value = forms.CharField(
        required=False, help_text="Integer, decimal, date and datetime fields."
    )

    class Meta:
        model = FieldDefinition
        fields = [
            "company",
            "name",
            "label",
            "field_type",
            "required",
            "default",
            "choices",
            "min_value",
            "max_value",
            "max_length",
            "decimal_places",
            "regex",
            "help_text",
            "is_active",
            "order",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        instance = self.instance
        if instance.pk is None:
            return
        self.fields["model"].initial = instance.model_name
        # A field never moves to another object (its values would not follow).
        self.fields["model"].disabled = True
        self.initial["choices"] = "\n".join(instance.choices or [])
        for attr in ("default", "min_value", "max_value"):
            value = getattr(instance, attr)
            if value is None:
                self.initial[attr] = ""
            elif instance.field_type == "json" or not isinstance(value, str):
                self.initial[attr] = json.dumps(value)
            else:
                self.initial[attr] = value

    def clean(self):
        cleaned = super().clean()
        model = cleaned.get("model")
        if model:
            try:
                self.instance.content_type = services.content_type_for(model)
            except ValidationError as exc:
                self.add_error("model", exc.message_dict["model"])
        lines = (cleaned.get("choices") or "").splitlines()
        cleaned["choices"] = [line.strip() for line in lines if line.strip()]
        for attr in ("default", "min_value", "max_value"):
            raw = cleaned.get(attr)
            if raw in ("", None):
                cleaned[attr] = None
            elif cleaned.get("field_type") == "json":
                try:
                    cleaned[attr] = json.loads(raw)
                except ValueError:
                    self.add_error(attr, "Enter valid JSON.")
        return cleaned


class BusinessObjectFilter(admin.SimpleListFilter):
    """The registered business objects (not every content type of the project)."""

    title = "business object"
    parameter_name = "model"

    def lookups(self, request, model_admin):
        return _model_choices()

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            content_type = services.content_type_for(self.value())
        except ValidationError:
            raise IncorrectLookupParameters("Unknown business object.") from None
        return queryset.filter(content_type=content_type)


@admin.register(FieldDefinition)
class FieldDefinitionAdmin(CompanyScopedAdminMixin, admin.ModelAdmin):
    form = FieldDefinitionForm
    list_display = (
        "name",
        "label",
        "business_object",
        "field_type",
        "required",
        "order",
        "is_active",
        "company",
    )
    list_editable = ("order", "is_active")
    list_filter = ("field_type", "is_active", "required")
    search_fields = ("name", "label")
    ordering = ("company", "content_type", "order", "name")
    actions = ["activate", "deactivate"]
    delete_confirmation_template = "extensions/admin/delete_confirmation.html"
    delete_selected_confirmation_template = (
        "extensions/admin/delete_selected_confirmation.html"
    )

    @admin.display(description="Business object", ordering="content_type__model")
    def business_object(self, obj) -> str:
        return obj.model_name

    # -- company scoping: CompanyScopedAdminMixin ------------------------------

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("content_type")

    def get_list_filter(self, request):
        extra = ("company",) if request.user.is_superuser else ()
        return (*extra, BusinessObjectFilter, *self.list_filter)

    def get_fields(self, request, obj=None):
        fields = ["company", "model", *FieldDefinitionForm.Meta.fields[1:]]
        return fields

    def get_readonly_fields(self, request, obj=None):
        return ("company",) if obj is not None else ()

    # -- writes through the services -------------------------------------------

    def save_model(self, request, obj, form, change):
        if change:
            attrs = {
                name: getattr(obj, name)
                for name in form.changed_data
                if name in services.DEFINITION_ATTRIBUTES
            }
            services.definition_update(obj, user=request.user, **attrs)
            return
        attrs = {name: getattr(obj, name) for name in services.DEFINITION_ATTRIBUTES}
        created = services.definition_create(
            company=obj.company, model=obj.content_type.model, **attrs
        )
        obj.pk = created.pk
        obj.__dict__.update(
            {k: v for k, v in created.__dict__.items() if not k.startswith("_state")}
        )

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, _protected = super().get_deleted_objects(
            objs, request
        )
        # Values do not block the delete: a field that holds values is
        # deactivated instead (delete_model), so nothing is destroyed.
        return deleted, counts, perms_needed, []

    def _delete(self, request, obj) -> bool:
        result = services.definition_delete(obj, user=request.user)
        if result.deactivated:
            self.message_user(
                request,
                f"Custom field “{obj}” holds {result.values} values, so it was "
                "deactivated instead of deleted. Its values are kept; reactivate it "
                "to show them again.",
                messages.WARNING,
            )
        return result.deleted

    def delete_model(self, request, obj):
        if not self._delete(request, obj):
            request._merp_definition_kept = True

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self._delete(request, obj)

    def render_delete_form(self, request, context):
        # Say what will happen: a field that holds values is deactivated.
        obj = context["object"]
        context.update(_value_counts(obj), purge_url=self._purge_url(obj))
        return super().render_delete_form(request, context)

    def _purge_url(self, obj) -> str:
        return reverse("admin:extensions_fielddefinition_purge", args=(obj.pk,))

    def get_urls(self):
        purge = self.admin_site.admin_view(self.purge_view)
        return [
            path(
                "<path:object_id>/purge/",
                purge,
                name="extensions_fielddefinition_purge",
            ),
            *super().get_urls(),
        ]

    def purge_view(self, request, object_id):
        """Destroy a field's values and delete it, after its own confirmation."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        if not self.has_delete_permission(request, obj):
            raise PermissionDenied
        if request.method == "POST" and request.POST.get("post") == "yes":
            result = services.definition_delete(obj, purge=True, user=request.user)
            self.log_deletions(request, [obj])
            self.message_user(
                request,
                f"Custom field “{obj}” and its {result.values} values were purged.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(
                reverse("admin:extensions_fielddefinition_changelist")
            )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Purge {obj}",
            "opts": self.model._meta,
            "object": obj,
            **_value_counts(obj),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request, "extensions/admin/purge_confirmation.html", context
        )

    def response_delete(self, request, obj_display, obj_id):
        if getattr(request, "_merp_definition_kept", False):
            return HttpResponseRedirect(
                reverse("admin:extensions_fielddefinition_changelist")
            )
        return super().response_delete(request, obj_display, obj_id)

    @admin.action(description="Activate selected custom fields")
    def activate(self, request, queryset):
        for definition in queryset:
            services.definition_update(definition, user=request.user, is_active=True)

    @admin.action(description="Deactivate selected custom fields")
    def deactivate(self, request, queryset):
        for definition in queryset:
            services.definition_update(definition, user=request.user, is_active=False)


def _value_counts(definition) -> dict:
    values = ExtensionValue.objects.filter(
        company_id=definition.company_id, definition_id=definition.pk
    )
    return {
        "value_count": values.count(),
        "object_count": values.values("object_id").distinct().count(),
    }
