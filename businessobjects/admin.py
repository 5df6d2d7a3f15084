from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import Http404

from audit.admin import BusinessObjectHistoryAdmin
from extensions.forms import ExtensionFieldsAdminMixin

from . import services
from .admin_scoping import (
    CompanyScopedAdminMixin,
    SafeChangeListMixin,
    scoped_company_ids,
)
from .exceptions import ObjectInUse, ObjectNotFound
from .models import BusinessObject, Company, Membership
from .registry import registrations


class ServiceRefusalAdminMixin:
    """Show a ValidationError raised by the services in ``save_model`` on the form.

    The form cannot know everything the services check (e.g. an admin of two
    companies picking one company's partner for the other's address). The
    refused save rolls back with the request's transaction, and the form is
    rendered again with the services' errors on their fields.
    """

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except _Refused as refused:
            request._merp_refusal = refused.error
            return super().changeform_view(request, object_id, form_url, extra_context)

    def refuse(self, request, error: ValidationError):
        """Call from ``save_model`` when the services refuse the save."""
        if getattr(request, "_merp_refusal", None) is not None:
            raise error  # refused twice: let it surface rather than loop
        raise _Refused(error) from error

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        refusal = getattr(request, "_merp_refusal", None)
        if refusal is None:
            return form
        return type(form.__name__, (_RefusedFormMixin, form), {"_refusal": refusal})


class _Refused(Exception):
    def __init__(self, error: ValidationError):
        super().__init__(error)
        self.error = error


class _RefusedFormMixin:
    _refusal: ValidationError

    def clean(self):
        cleaned = super().clean()
        error = self._refusal
        field_errors = getattr(error, "field_errors", None)  # custom fields
        if field_errors:
            errors = {f"ext__{k}": v for k, v in field_errors.items()}
        elif hasattr(error, "error_dict"):
            errors = error.message_dict
        else:
            errors = {None: error.messages}
        for name, messages_ in errors.items():
            if name is not None and name not in self.fields:
                messages_ = [f"{name}: {m}" for m in messages_]
                name = None
            self.add_error(name, messages_)
        return cleaned


class CompanyScopedAdmin(
    CompanyScopedAdminMixin,
    ServiceRefusalAdminMixin,
    ExtensionFieldsAdminMixin,
    BusinessObjectHistoryAdmin,
):
    """Admin for a business object: company admins see only their companies' rows,
    every save and delete goes through the services (history and events), the
    company's custom fields are form fields (``extensions.forms``); history and
    revert come from ``audit.admin``."""

    readonly_fields = (
        "version",
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
    )
    list_display = ("__str__", "company", "version", "updated_at")

    def get_list_filter(self, request):
        return ("company",) if request.user.is_superuser else ()

    def get_fields(self, request, obj=None):
        fields = [f for f in super().get_fields(request, obj) if f != "company"]
        return (["company"] if obj is None else []) + fields

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        return readonly + ["company"] if obj is not None else readonly

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # Company choices come from CompanyScopedAdminMixin; related business
        # objects are offered from the admin's companies only.
        related = db_field.related_model
        company_ids = scoped_company_ids(request)
        if company_ids is not None and issubclass(related, BusinessObject):
            kwargs["queryset"] = related.objects.filter(company_id__in=company_ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        try:
            self._save_through_services(request, obj, form, change)
        except ValidationError as exc:
            self.refuse(request, exc)

    def _save_through_services(self, request, obj, form, change):
        own_fields = {f.name for f in obj._meta.fields}
        data = {
            name: form.cleaned_data[name]
            for name in form.changed_data
            if name in form.cleaned_data and name != "company" and name in own_fields
        }
        extensions = getattr(form, "extension_values", None)
        if change:
            try:
                services.update(
                    obj, data=data, extensions=extensions, user=request.user
                )
            except ObjectNotFound as exc:  # deleted while the form was open
                raise Http404(str(exc)) from exc
        else:
            fields = {
                name: form.cleaned_data[name]
                for name in form.cleaned_data
                if name != "company" and name in {f.name for f in obj._meta.fields}
            }
            created = services.create(
                type(obj),
                data=fields,
                extensions=extensions,
                company=form.cleaned_data["company"],
                user=request.user,
            )
            obj.pk = created.pk
            obj.__dict__.update(created.__dict__)

    def delete_model(self, request, obj):
        try:
            services.delete(obj, user=request.user)
        except ObjectNotFound:
            pass  # deleted meanwhile by someone else: what was asked for
        except ObjectInUse as exc:
            raise ValidationError(str(exc)) from exc

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            try:
                services.delete(obj, user=request.user)
            except ObjectNotFound:
                pass  # deleted meanwhile by someone else
            except ObjectInUse as exc:
                self.message_user(request, str(exc), messages.ERROR)

    def save_related(self, request, form, formsets, change):
        # Business objects have no m2m; inlines would bypass the services.
        return None


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Company)
class CompanyAdmin(SafeChangeListMixin, admin.ModelAdmin):
    list_display = ("name", "id", "created_at")
    search_fields = ("name",)
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(SafeChangeListMixin, admin.ModelAdmin):
    list_display = ("user", "company", "role", "is_default")
    list_filter = ("role", "company")


def build_admin(registration) -> type[CompanyScopedAdmin]:
    return type(
        f"{registration.model.__name__}Admin",
        (CompanyScopedAdmin,),
        {"search_fields": registration.search_fields},
    )


for _registration in registrations():
    if not admin.site.is_registered(_registration.model):
        admin.site.register(_registration.model, build_admin(_registration))
