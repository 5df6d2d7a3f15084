"""Custom fields as real form fields on every business object's admin form.

``ExtensionFieldsAdminMixin`` (used by ``businessobjects.admin.CompanyScopedAdmin``)
adds one form field per active custom field of the object's company, validated
by the same rules as the API; the form hands the values to the service layer as
``form.extension_values``.
"""

from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.contenttypes.models import ContentType

from businessobjects.models import Company, Membership
from businessobjects.params import is_id

from .models import ExtensionValue
from .values import ExtensionValidationError, definitions_for, validate

FORM_PREFIX = "ext__"


def field_name(definition) -> str:
    return f"{FORM_PREFIX}{definition.name}"


class ExtensionFormMixin:
    """Initial values from the stored ones; ``clean()`` fills ``extension_values``."""

    _ext_definitions: list = []
    _ext_company_id: int | None = None
    _ext_model = None
    extension_values: dict | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        definitions = self._ext_definitions
        if not definitions:
            return
        if self.instance.pk is not None:
            content_type = ContentType.objects.get_for_model(self._ext_model)
            rows = ExtensionValue.objects.filter(
                company_id=self.instance.company_id,
                content_type_id=content_type.pk,
                object_id=self.instance.pk,
                definition_id__in=[d.pk for d in definitions],
            )
            stored = {row.definition_id: row for row in rows}
            for definition in definitions:
                row = stored.get(definition.pk)
                value = None if row is None else getattr(row, definition.column)
                if value is not None:
                    initial = definition.type.form_initial(value, definition)
                    self.initial.setdefault(field_name(definition), initial)
        else:
            for definition in definitions:
                if definition.default is not None:
                    value = definition.type.to_python(definition.default, definition)
                    initial = definition.type.form_initial(value, definition)
                    self.initial.setdefault(field_name(definition), initial)

    def clean(self):
        cleaned = super().clean()
        creating = self.instance.pk is None
        if creating:
            company = cleaned.get("company")
            company_id = company.pk if company is not None else None
        else:
            company_id = self.instance.company_id
        if company_id is None:
            return cleaned  # the company field reports its own error
        incoming = {}
        if company_id == self._ext_company_id:
            for definition in self._ext_definitions:
                name = field_name(definition)
                if name in self.errors:
                    continue
                if not creating and name not in self.changed_data:
                    continue
                value = cleaned.get(name)
                incoming[definition.name] = None if value == "" else value
        try:
            validate(self._ext_model, company_id, incoming, creating=creating)
        except ExtensionValidationError as exc:
            for key, messages in exc.field_errors.items():
                name = f"{FORM_PREFIX}{key}"
                if name in self.fields:
                    if name not in self.errors:
                        self.add_error(name, messages)
                else:
                    # A field of another company than the one the form shows.
                    self.add_error(
                        None,
                        [f"Custom field '{key}': {m}" for m in messages]
                        + [
                            "Open this form with ?company=<id> to fill the "
                            "custom fields of the chosen company."
                        ],
                    )
        self.extension_values = incoming
        return cleaned


def extension_form(form_class, model, company_id: int | None, definitions: list):
    """Return ``form_class`` extended with one field per custom field."""
    attrs = {
        "_ext_definitions": definitions,
        "_ext_company_id": company_id,
        "_ext_model": model,
    }
    for definition in definitions:
        attrs[field_name(definition)] = definition.type.formfield(
            definition,
            required=definition.required,
            label=definition.label or definition.name,
            help_text=definition.help_text,
        )
    return type(form_class.__name__, (ExtensionFormMixin, form_class), attrs)


class ExtensionFieldsAdminMixin:
    """ModelAdmin mixin: a "Custom fields" fieldset on add and change forms."""

    def extension_company_id(self, request, obj=None) -> int | None:
        """The company whose custom fields the form shows.

        An existing object: its company. A new one: ``?company=<id>`` if the user
        may use it, else the user's only company (admin role), else none.
        """
        if obj is not None:
            return obj.company_id
        if request.user.is_superuser:
            allowed = None
        else:
            allowed = list(
                Membership.objects.filter(
                    user=request.user, role=Membership.Role.ADMIN
                ).values_list("company_id", flat=True)
            )
        raw = request.GET.get("company", "")
        if is_id(raw) and (allowed is None or int(raw) in allowed):
            return int(raw)
        if allowed is None:
            only = list(Company.objects.values_list("pk", flat=True)[:2])
            return only[0] if len(only) == 1 else None
        return allowed[0] if len(allowed) == 1 else None

    def get_form(self, request, obj=None, change=False, **kwargs):
        fields = kwargs.get("fields")
        if fields:
            kwargs["fields"] = [f for f in fields if not f.startswith(FORM_PREFIX)]
        form = super().get_form(request, obj, change=change, **kwargs)
        company_id = self.extension_company_id(request, obj)
        definitions = definitions_for(company_id, self.model) if company_id else []
        return extension_form(form, self.model, company_id, definitions)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        custom = [
            f
            for f in flatten_fieldsets(fieldsets)
            if isinstance(f, str) and f.startswith(FORM_PREFIX)
        ]
        if not custom:
            return fieldsets
        own = [
            (
                title,
                {
                    **options,
                    "fields": [
                        f
                        for f in options["fields"]
                        if not (isinstance(f, str) and f.startswith(FORM_PREFIX))
                    ],
                },
            )
            for title, options in fieldsets
        ]
        return [*own, ("Custom fields", {"fields": custom})]
