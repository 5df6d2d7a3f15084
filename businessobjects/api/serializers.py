import copy
import re
from collections.abc import Mapping

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField, empty
from rest_framework.relations import PKOnlyObject
from rest_framework.utils import html

from businessobjects.models import BusinessObject, Company
from businessobjects.registry import get_registration
from businessobjects.representation import field_names, field_renderer
from extensions import values as ext


@extend_schema_field(
    {
        "type": "object",
        # Definitions are per company and live in the database: free-form keys,
        # values typed by their definition (see /api/custom-fields/).
        "additionalProperties": {
            "nullable": True,
            "anyOf": [
                {"type": "string"},
                {"type": "number"},
                {"type": "boolean"},
                {"type": "object", "additionalProperties": True},
                {"type": "array", "items": {}},
            ],
        },
        "description": (
            "Custom fields of this object: name -> value, typed by the company's "
            "field definitions (/api/custom-fields/): string, email, phone, url and "
            "choice as strings, integer as a number, decimal as a string, boolean, "
            "date and datetime as ISO 8601 strings, json as any JSON value; null "
            "when unset. On write the object merges: keys given are set, null "
            "clears one, keys left out are kept."
        ),
        "example": {"credit_limit": "1500.00", "tier": "gold", "since": "2024-05-01"},
    }
)
class ExtensionsField(serializers.Field):
    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("source", "*")
        super().__init__(**kwargs)

    def to_representation(self, instance):
        return extension_values(self.context, instance)

    def validate_empty_values(self, data):
        # "extensions": null changes nothing (a key set to null clears that key).
        if data is None:
            return True, {}
        return super().validate_empty_values(data)

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                "Expected an object of custom field name -> value."
            )
        return {"extensions": data}


def extension_values(context: Mapping, instance) -> dict:
    """The custom-field values of ``instance``: prefetched for a list page (the
    ``extensions`` entry of the serializer context, ``{pk: values}``), else read."""
    values = context.get("extensions", {}).get(instance.pk)
    return values if values is not None else ext.current_values(instance)


# Sent by the browsable API's HTML forms beside the fields.
_FORM_EXTRAS = frozenset({"csrfmiddlewaretoken"})


def unknown_fields(data, fields) -> dict[str, list[str]]:
    """``{name: ["Unknown field."]}`` for each key of ``data`` not in ``fields``.

    Read-only fields are known: clients send back what they read.
    """
    if not isinstance(data, Mapping):
        return {}
    form = html.is_html_input(data)
    unknown = {}
    for key in data:
        name = str(key)
        if form:
            if name in _FORM_EXTRAS:
                continue
            # HTML list and nested input: choices[0], address.city
            name = re.split(r"[\[.]", name, maxsplit=1)[0]
        if name not in fields:
            unknown[str(key)] = ["Unknown field."]
    return unknown


class StrictInputMixin:
    """Refuse unknown input fields, and read a field a form leaves out as absent.

    Without this a typo (``emial``) was dropped silently, and DRF read a boolean
    missing from form or multipart input as an unchecked box: ``False``, not the
    model default that JSON input gets.
    """

    def get_fields(self):
        fields = super().get_fields()
        for field in fields.values():
            field.default_empty_html = empty
        return fields

    def to_internal_value(self, data):
        unknown = unknown_fields(data, self.fields)
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, Mapping):
                raise serializers.ValidationError({**exc.detail, **unknown}) from exc
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


class BusinessObjectSerializer(StrictInputMixin, serializers.ModelSerializer):
    """Base serializer: system fields read-only, references limited to the company.

    Input errors come all at once: when a field is bad, the custom-field errors
    of the same request are reported beside it (the service reports field and
    custom-field errors together when the fields pass here).
    """

    company = serializers.PrimaryKeyRelatedField(read_only=True)
    version = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="The version you read; a stale one gets 409 and changes nothing.",
    )
    extensions = ExtensionsField()

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            detail = exc.detail
            if isinstance(detail, Mapping) and "extensions" not in detail:
                detail = {**detail, **self._extension_errors(data)}
            raise serializers.ValidationError(detail) from exc

    def _extension_errors(self, data) -> dict:
        """The custom-field errors of ``data``, as the service would report them."""
        company = getattr(self.context.get("request"), "company", None)
        incoming = data.get("extensions") if isinstance(data, Mapping) else None
        if company is None or not isinstance(incoming, Mapping | None):
            return {}
        # A partial update leaves required custom fields as they are.
        creating = self.instance is None
        try:
            ext.validate(self.Meta.model, company, incoming, creating=creating)
        except DjangoValidationError as error:
            return getattr(error, "api_detail", None) or {"extensions": error.messages}
        return {}

    def to_representation(self, instance):
        """Render the model's fields with ``representation.represent`` (the
        events' and change sets' payload, so they cannot differ from the API);
        fields a subclass declares go through DRF."""
        if isinstance(instance, Mapping):
            return super().to_representation(instance)
        plan = self.__dict__.get("_merp_plan")
        if plan is None:
            plan = self._merp_plan = self._plan()
        ret = {}
        for field, own in plan:
            if own:
                name = field.field_name
                if name == "extensions":
                    ret[name] = extension_values(self.context, instance)
                else:
                    attname, render = own
                    value = getattr(instance, attname)
                    ret[name] = None if value is None else render(value)
                continue
            try:
                value = field.get_attribute(instance)
            except SkipField:
                continue
            if isinstance(value, PKOnlyObject) and value.pk is None:
                value = None
            ret[field.field_name] = (
                None if value is None else field.to_representation(value)
            )
        return ret

    def _plan(self) -> list:
        # A field is the model's own when the base or ModelSerializer built it:
        # a subclass that declares it renders it its own way.
        standard = set(field_names(self.Meta.model))
        base = BusinessObjectSerializer._declared_fields
        declared = type(self)._declared_fields
        model = self.Meta.model
        # (field, its (attname, render) when it is the model's own, else None).
        return [
            (
                field,
                (
                    field_renderer(model, field.field_name)
                    if field.field_name != "extensions"
                    else ("extensions", None)
                )
                if field.field_name in standard
                and declared.get(field.field_name) is base.get(field.field_name)
                else None,
            )
            for field in self._readable_fields
        ]

    def get_fields(self):
        # ModelSerializer introspects the model and builds every field again for
        # each serializer (a tenth of an API write's CPU): build them once per
        # class, then copy them as DRF copies declared fields.
        template = type(self).__dict__.get("_merp_fields")
        if template is None:
            template = super().get_fields()
            type(self)._merp_fields = template
        fields = copy.deepcopy(template)
        company = getattr(self.context.get("request"), "company", None)
        for field in fields.values():
            field.default_empty_html = empty  # StrictInputMixin's (lost by copying)
            queryset = getattr(field, "queryset", None)
            if queryset is not None and issubclass(queryset.model, BusinessObject):
                # Without a company (schema generation) nothing is selectable.
                field.queryset = (
                    queryset.model.objects.for_company(company)
                    if company is not None
                    else queryset.none()
                )
        return fields


_serializers: dict[str, type] = {}


def serializer_for(model_or_name) -> type:
    """Return the serializer class of a registered business object (built once)."""
    registration = get_registration(model_or_name)
    if registration.name not in _serializers:
        _serializers[registration.name] = build_serializer(registration)
    return _serializers[registration.name]


def build_serializer(registration):
    model = registration.model
    meta = type(
        "Meta",
        (),
        {
            "model": model,
            "fields": field_names(model),
            "read_only_fields": ("id", "created_at", "updated_at"),
            # Uniqueness is checked by the service (per company), not DRF's
            # table-wide validators.
            "validators": [],
        },
    )
    return type(
        f"{model.__name__}Serializer", (BusinessObjectSerializer,), {"Meta": meta}
    )


class CompanySerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()
    is_default = serializers.SerializerMethodField()

    class Meta:
        model = Company
        fields = ("id", "name", "role", "is_default")

    def _membership(self, company):
        return self.context.get("memberships", {}).get(company.pk)

    @extend_schema_field(OpenApiTypes.STR)
    def get_role(self, company):
        membership = self._membership(company)
        return membership.role if membership else None

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_is_default(self, company) -> bool:
        membership = self._membership(company)
        return bool(membership and membership.is_default)
