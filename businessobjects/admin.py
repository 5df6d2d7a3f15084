"""The admin of every business object: ``BusinessObjectAdmin`` (company scoping,
writes through the services with optimistic locking, custom fields, history),
``BusinessObjectInline`` for child objects, the site's branding, and
``register_admins`` which gives each registered object its admin.

A project customizes one object's admin with a subclass of ``BusinessObjectAdmin``,
either ``@register(..., admin_class=...)`` or ``@admin.register(Model)`` in its
own admin module (docs/developer-guide.md, "Customizing the admin").
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.forms.models import BaseInlineFormSet
from django.http import Http404
from django.utils.functional import lazy
from django.utils.module_loading import import_string

from audit.admin import BusinessObjectHistoryAdmin
from audit.display import conflict_message
from extensions.admin_filters import extension_list_filters
from extensions.forms import ExtensionFieldsAdminMixin

from . import services
from .admin_scoping import (
    CompanyScopedAdminMixin,
    SafeChangeListMixin,
    is_admin_user,
    scoped_company_ids,
)
from .conf import merp_settings
from .exceptions import ObjectInUse, ObjectNotFound, VersionConflict
from .models import BusinessObject, Company, Membership
from .registry import Registration, get_registration, registrations


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


# Read at each request (override_settings works); empty ADMIN_SITE_URL hides
# "View site" (Django hides the link when site_url is falsy).
admin.site.site_header = lazy(lambda: merp_settings.ADMIN_SITE_HEADER, str)()
admin.site.site_title = lazy(lambda: merp_settings.ADMIN_SITE_TITLE, str)()
admin.site.index_title = lazy(lambda: merp_settings.ADMIN_INDEX_TITLE, str)()
admin.site.site_url = lazy(lambda: merp_settings.ADMIN_SITE_URL or "", str)()

# Managed by the services; never typed into a form (``version`` is a hidden field).
_NOT_IN_FORMS = ("company", "created_by", "updated_by")
_NOT_YET = {"version", "created_at", "updated_at", "created_by_name", "updated_by_name"}


def _version_field() -> forms.IntegerField:
    # Optional: a form posted without it (a script) is not checked, as in the API.
    return forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)


def _stored(instance):
    return type(instance).objects.filter(pk=instance.pk).first() or instance


def _conflict(instance, exc: VersionConflict) -> ValidationError:
    stored = _stored(instance)
    return ValidationError(conflict_message(stored, exc.expected, exc.actual))


class BusinessObjectInlineFormSet(BaseInlineFormSet):
    """Rows prefixed by the child's model name (``address-0-city``); a POST without
    this inline's management form (a script that posts the parent's fields only)
    changes no rows instead of failing."""

    @classmethod
    def get_default_prefix(cls):
        return cls.model._meta.model_name

    def __init__(self, data=None, *args, prefix=None, **kwargs):
        name = prefix or self.get_default_prefix()
        if data is not None and f"{name}-TOTAL_FORMS" not in data:
            data = data.copy()
            data[f"{name}-TOTAL_FORMS"] = data[f"{name}-INITIAL_FORMS"] = "0"
        super().__init__(data, *args, prefix=prefix, **kwargs)


class BusinessObjectInline(admin.TabularInline):
    """A child business object edited on its parent's form (``admin_inlines``).

    Each row carries its version; the parent admin saves the rows through the
    services (``BusinessObjectAdmin.save_formset``), so each one gets its history
    entry and event, and a row changed meanwhile is refused like the form.
    """

    formset = BusinessObjectInlineFormSet
    extra = 1
    exclude = _NOT_IN_FORMS
    # Rows fit the page: the admin's default text inputs are 20em wide each.
    formfield_overrides = {
        models.CharField: {"widget": forms.TextInput(attrs={"size": 18})},
        models.EmailField: {"widget": forms.EmailInput(attrs={"size": 22})},
    }
    show_change_link = True

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "version":
            return _version_field()
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    # Company admins hold no Django model permissions: the parent's scoping rules.
    def has_view_permission(self, request, obj=None):
        if not is_admin_user(request):
            return False
        company_ids = scoped_company_ids(request)
        return obj is None or company_ids is None or obj.company_id in company_ids

    has_change_permission = has_view_permission
    has_delete_permission = has_view_permission

    def has_add_permission(self, request, obj=None):
        return self.has_view_permission(request, obj)


class BusinessObjectAdmin(
    CompanyScopedAdminMixin,
    ServiceRefusalAdminMixin,
    ExtensionFieldsAdminMixin,
    BusinessObjectHistoryAdmin,
):
    """Admin for a business object: company admins see only their companies' rows,
    every save and delete goes through the services (history and events) with the
    version the form was opened at (a stale save is refused and writes nothing),
    the company's custom fields are form fields (``extensions.forms``); history and
    revert come from ``audit.admin``. Subclass it to customize an object's admin.
    """

    readonly_fields = ("created_at", "updated_at", "created_by_name", "updated_by_name")
    list_display = ("__str__", "company", "version", "updated_at")

    @admin.display(description="Created by")
    def created_by_name(self, obj) -> str:
        # Text, not a link: the user admin is not a company admin's to open.
        return str(obj.created_by) if obj and obj.created_by_id else "-"

    @admin.display(description="Updated by")
    def updated_by_name(self, obj) -> str:
        return str(obj.updated_by) if obj and obj.updated_by_id else "-"

    def get_list_filter(self, request):
        company = ("company",) if request.user.is_superuser else ()
        return (
            *company,
            *super().get_list_filter(request),
            *extension_list_filters(request, self.model, scoped_company_ids(request)),
        )

    def get_fields(self, request, obj=None):
        # An add form shows no version and no bookkeeping that does not exist yet.
        hidden = {"company"} | (set() if obj is not None else _NOT_YET)
        fields = [f for f in super().get_fields(request, obj) if f not in hidden]
        return (["company"] if obj is None else []) + fields

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        return readonly + ["company"] if obj is not None else readonly

    def get_exclude(self, request, obj=None):
        return (*(super().get_exclude(request, obj) or ()), "created_by", "updated_by")

    def get_changeform_initial_data(self, request):
        # The company preselected: ?company=<id>, or the admin's only company.
        initial = super().get_changeform_initial_data(request)
        company_id = self.extension_company_id(request)
        if company_id is not None:
            initial["company"] = company_id
        return initial

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "version":
            return _version_field()
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # Company choices come from CompanyScopedAdminMixin; related business
        # objects are offered from the admin's companies only (the autocomplete
        # asks the related object's admin, which is scoped the same way).
        related = db_field.related_model
        company_ids = scoped_company_ids(request)
        if company_ids is not None and issubclass(related, BusinessObject):
            kwargs["queryset"] = related.objects.filter(company_id__in=company_ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # -- writes through the services -------------------------------------------

    def save_model(self, request, obj, form, change):
        try:
            self._save_through_services(request, obj, form, change)
        except ValidationError as exc:
            self.refuse(request, exc)
        except VersionConflict as exc:
            self.refuse(request, _conflict(obj, exc))

    def _save_through_services(self, request, obj, form, change):
        own_fields = {f.name for f in obj._meta.fields} - {"version", "company"}
        extensions = getattr(form, "extension_values", None)
        if change:
            data = {
                name: form.cleaned_data[name]
                for name in form.changed_data
                if name in form.cleaned_data and name in own_fields
            }
            try:
                services.update(
                    obj,
                    data=data,
                    extensions=extensions,
                    expected_version=form.cleaned_data.get("version"),
                    user=request.user,
                )
            except ObjectNotFound as exc:  # deleted while the form was open
                raise Http404(str(exc)) from exc
        else:
            fields = {
                name: form.cleaned_data[name]
                for name in form.cleaned_data
                if name in own_fields
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
        # Business objects have no m2m; inline rows go through the services.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def save_formset(self, request, form, formset, change):
        try:
            _save_inline_rows(request, form.instance, formset)
        except ValidationError as exc:
            self.refuse(request, exc)
        except VersionConflict as exc:
            self.refuse(request, _conflict(exc.instance, exc))


def _save_inline_rows(request, parent, formset) -> None:
    """Create, update and delete the rows of one inline formset with the services;
    fill in what the admin's change message reads (``new_objects`` etc.)."""
    model = formset.model
    fk_name = formset.fk.name
    own_fields = {f.name for f in model._meta.fields} - {"version", "company", "id"}
    formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
    for row in formset.forms:
        obj = row.instance
        existing = obj.pk is not None
        expected = row.cleaned_data.get("version") if existing else None
        if existing and not [n for n in row.changed_data if n != "version"]:
            if not formset._should_delete_form(row):
                continue  # untouched: a change made meanwhile is not a conflict
        try:
            if existing and formset._should_delete_form(row):
                services.delete(obj, expected_version=expected, user=request.user)
                formset.deleted_objects.append(obj)
            elif formset._should_delete_form(row) or not row.has_changed():
                continue
            elif existing:
                data = {
                    name: row.cleaned_data[name]
                    for name in row.changed_data
                    if name in own_fields and name != fk_name
                }
                services.update(
                    obj, data=data, expected_version=expected, user=request.user
                )
                formset.changed_objects.append((obj, list(data)))
            else:
                data = {
                    name: value
                    for name, value in row.cleaned_data.items()
                    if name in own_fields and name != fk_name
                }
                data[fk_name] = parent
                created = services.create(
                    model, data=data, company=parent.company, user=request.user
                )
                formset.new_objects.append(created)
        except VersionConflict as exc:
            exc.instance = obj
            raise
        except ObjectNotFound:
            continue  # deleted meanwhile: nothing left to change
        except ObjectInUse as exc:
            raise ValidationError(f"{obj}: {exc}") from exc


# The name this class had before it was public.
CompanyScopedAdmin = BusinessObjectAdmin


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


def build_inline(registration: Registration, parent) -> type[BusinessObjectInline]:
    fk = next(
        (
            f.name
            for f in registration.model._meta.fields
            if f.is_relation and f.related_model is parent
        ),
        None,
    )
    assert fk is not None, (
        f"admin_inlines of {parent.__name__} names {registration.name!r}, which has "
        f"no foreign key to {parent.__name__}; name only child objects."
    )
    return type(
        f"{registration.model.__name__}Inline",
        (BusinessObjectInline,),
        {"model": registration.model, "fk_name": fk},
    )


def _autocomplete_fields(model) -> tuple[str, ...]:
    # References to business objects that can be searched: an autocomplete (a
    # select of every partner has hundreds of options), scoped by the related
    # object's admin.
    names = []
    for f in model._meta.fields:
        if f.is_relation and f.related_model is not None:
            if issubclass(f.related_model, BusinessObject) and f.name != "company":
                try:
                    if get_registration(f.related_model).search_fields:
                        names.append(f.name)
                except LookupError:
                    continue
    return tuple(names)


def build_admin(registration: Registration) -> type[BusinessObjectAdmin]:
    """The admin class of ``registration``: its ``admin_class`` (or
    ``BusinessObjectAdmin``) with the registration's options filled in where the
    class leaves Django's defaults."""
    base = registration.admin_class or BusinessObjectAdmin
    if isinstance(base, str):
        base = import_string(base)
    assert issubclass(base, BusinessObjectAdmin), (
        f"admin_class of {registration.name!r} must subclass "
        "businessobjects.admin.BusinessObjectAdmin (company scoping and writes "
        "through the services come from it)."
    )
    defaults = {
        "search_fields": registration.search_fields,
        "list_display": registration.list_display,
        "list_filter": registration.list_filter,
        "autocomplete_fields": _autocomplete_fields(registration.model),
        "inlines": [
            build_inline(get_registration(name), registration.model)
            for name in registration.admin_inlines
        ],
    }
    attrs = {
        name: value
        for name, value in defaults.items()
        if value and getattr(base, name) == getattr(BusinessObjectAdmin, name)
    }
    return type(f"{registration.model.__name__}Admin", (base,), attrs)


def register_admins(site=None) -> None:
    """Give every registered business object that has no admin yet its built one.

    Called from ``BusinessObjectsConfig.ready()`` after the admin modules are
    imported, so a project's own ``@admin.register(Model)`` comes first.
    """
    site = site or admin.site
    for registration in registrations():
        if not site.is_registered(registration.model):
            site.register(registration.model, build_admin(registration))
