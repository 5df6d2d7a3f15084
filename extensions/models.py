"""Custom field definitions and their typed values.

Values live in rows, one typed column per storage kind, never in a column per
custom field: adding a field needs no schema change and no table grows wide.
"""

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from audit.history import HistoryBase, MerpHistoricalRecords
from businessobjects.models import Company

from . import types
from .conversions import check_stored_values

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
validate_name = RegexValidator(
    NAME_PATTERN,
    "Enter a name that starts with a lowercase letter and has only lowercase "
    "letters, digits and underscores (at most 63 characters).",
    code="invalid_name",
)


class FieldDefinition(models.Model):
    """A custom field of one business object (``content_type``) in one company."""

    company = models.ForeignKey(
        Company, on_delete=models.CASCADE, related_name="custom_fields"
    )
    content_type = models.ForeignKey(
        ContentType, on_delete=models.PROTECT, related_name="+"
    )
    name = models.CharField(max_length=63, validators=[validate_name])
    label = models.CharField(max_length=200, blank=True)
    # No ``choices=``: an unknown type must get the documented message, which the
    # validator gives, not Django's generic "not a valid choice".
    field_type = models.CharField(max_length=20, validators=[types.validate_field_type])
    required = models.BooleanField(default=False)
    # default, min_value and max_value hold API representations (decimals as
    # strings, dates ISO 8601), normalised by clean().
    default = models.JSONField(null=True, blank=True)
    choices = models.JSONField(default=list, blank=True)
    min_value = models.JSONField(null=True, blank=True)
    max_value = models.JSONField(null=True, blank=True)
    max_length = models.PositiveIntegerField(null=True, blank=True)
    decimal_places = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Decimal fields: digits after the point (values are shown with "
        "exactly this many). Empty: up to 10, shown as entered without trailing "
        "zeros.",
    )
    regex = models.CharField(max_length=500, blank=True, default="")
    help_text = models.TextField(blank=True, default="")
    is_active = models.BooleanField(default=True)
    order = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["content_type_id", "order", "name"]
        verbose_name = "custom field"
        constraints = [
            models.UniqueConstraint(
                fields=["company", "content_type", "name"],
                name="ext_definition_unique_name",
            )
        ]
        indexes = [
            models.Index(
                fields=["company", "content_type", "order"],
                name="ext_definition_company_model",
            )
        ]

    def __str__(self) -> str:
        return f"{self.model_name}.{self.name}"

    @property
    def model_name(self) -> str:
        """The business object's registry name (``partner``)."""
        return self.content_type.model if self.content_type_id else ""

    @property
    def type(self) -> types.FieldType:
        return types.FIELD_TYPES[self.field_type]

    @property
    def column(self) -> str:
        return self.type.column

    def represent(self, value):
        """Return a stored Python value as the API shows it."""
        return None if value is None else self.type.to_representation(value, self)

    def clean(self) -> None:
        errors: dict[str, list] = {}

        def add(field: str, message: str) -> None:
            errors.setdefault(field, []).append(message)

        if not self.label and self.name:
            self.label = self.name.replace("_", " ").capitalize()
        field_type = types.FIELD_TYPES.get(self.field_type)
        if field_type is None:
            return  # clean_fields() reports the unknown type; nothing else applies.
        self._clean_choices(add)
        self._clean_text_rules(field_type, add)
        self._clean_decimal_places(add)
        self._clean_bounds(field_type, add, skip="decimal_places" in errors)
        if self.default is not None and not errors:
            self._clean_default(field_type, add)
        self._clean_name(add)
        if not errors and self.pk is not None:
            self._check_stored_values()
        if errors:
            raise ValidationError(errors)

    def _clean_choices(self, add) -> None:
        if self.field_type == "choice":
            choices = self.choices
            if not isinstance(choices, list) or not choices:
                add("choices", "A choice field needs a non-empty list of choices.")
            elif not all(isinstance(c, str) and c for c in choices):
                add("choices", "Each choice must be a non-empty string.")
            elif len(set(choices)) != len(choices):
                add("choices", "Choices must be unique.")
            elif any(len(c) > types.MAX_TEXT_LENGTH for c in choices):
                add(
                    "choices",
                    f"Each choice must have at most {types.MAX_TEXT_LENGTH} "
                    "characters.",
                )
        elif self.choices:
            add("choices", "Only choice fields take choices.")

    def _clean_text_rules(self, field_type, add) -> None:
        if not field_type.has_text_rules:
            if self.max_length is not None:
                add("max_length", f"A {self.field_type} field takes no max_length.")
            if self.regex:
                add("regex", f"A {self.field_type} field takes no regex.")
            return
        if self.max_length is not None and not (
            1 <= self.max_length <= types.MAX_TEXT_LENGTH
        ):
            add(
                "max_length",
                f"Ensure max_length is between 1 and {types.MAX_TEXT_LENGTH}.",
            )
        if self.regex:
            try:
                types.compile_regex(self.regex)
            except ValidationError as exc:
                add("regex", exc.messages[0])

    def _clean_decimal_places(self, add) -> None:
        if self.field_type != "decimal" and self.decimal_places is not None:
            add("decimal_places", "Only decimal fields take decimal_places.")
        elif self.decimal_places is not None and not (
            0 <= self.decimal_places <= types.DECIMAL_MAX_PLACES
        ):
            add(
                "decimal_places",
                f"Ensure decimal_places is between 0 and {types.DECIMAL_MAX_PLACES}.",
            )

    def _clean_bounds(self, field_type, add, *, skip: bool) -> None:
        # skip: with bad decimal_places the bounds cannot be parsed meaningfully.
        bounds = {}
        for attr in ("min_value", "max_value"):
            raw = getattr(self, attr)
            if raw is None:
                continue
            if not field_type.has_range:
                add(attr, f"A {self.field_type} field takes no {attr}.")
                continue
            if skip:
                continue
            try:
                bounds[attr] = field_type.to_python(raw, self)
            except ValidationError as exc:
                add(attr, exc.messages[0])
                continue
            setattr(self, attr, field_type.to_representation(bounds[attr], self))
        if len(bounds) == 2 and bounds["min_value"] > bounds["max_value"]:
            add("max_value", "Ensure max_value is greater than or equal to min_value.")

    def _clean_default(self, field_type, add) -> None:
        try:
            value = field_type.clean(self.default, self)
        except ValidationError as exc:
            add("default", exc.messages[0])
        else:
            self.default = self.represent(value)

    def _clean_name(self, add) -> None:
        if self.name and "__" in self.name:
            # ext__<name>__<lookup> would read part of the name as a lookup.
            add("name", "A custom field name cannot contain '__' (two underscores).")
        if self.company_id and self.content_type_id and self.name:
            clash = FieldDefinition.objects.filter(
                company_id=self.company_id,
                content_type_id=self.content_type_id,
                name=self.name,
            ).exclude(pk=self.pk)
            if clash.exists():
                add(
                    "name",
                    f"A custom field named '{self.name}' already exists on "
                    f"{self.model_name}.",
                )

    def _check_stored_values(self) -> None:
        original = (
            FieldDefinition.objects.filter(pk=self.pk)
            .select_related("content_type")
            .first()
        )
        if original is not None:
            check_stored_values(original, self)


class ValueHistoricalRecords(MerpHistoricalRecords):
    """The business objects' history (user, reason, correlation id, AUDIT_ENABLED),
    indexed for "the values of this object" rather than by value row id."""

    def get_meta_options(self, model):
        options = super().get_meta_options(model)
        options["indexes"] = [
            models.Index(
                fields=["company", "content_type", "object_id", "-history_date"],
                name="h_ext_value_object",
            )
        ]
        return options


class ExtensionValue(models.Model):
    """The value of one custom field on one business object.

    Exactly one ``value_*`` column is set, the one of the definition's type; a
    cleared value is a deleted row. ``company`` is repeated on every row so that
    the table can be distributed by company like the business objects.
    """

    # No single-column index: every index of this table starts with company.
    company = models.ForeignKey(
        Company, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # PROTECT: a definition that holds values is deactivated, or purged on
    # request (values first), never cascaded away.
    definition = models.ForeignKey(
        FieldDefinition, on_delete=models.PROTECT, related_name="values"
    )
    content_type = models.ForeignKey(
        ContentType, on_delete=models.CASCADE, related_name="+"
    )
    object_id = models.PositiveBigIntegerField()
    content_object = GenericForeignKey("content_type", "object_id")

    value_text = models.TextField(null=True, blank=True)
    value_integer = models.BigIntegerField(null=True, blank=True)
    value_decimal = models.DecimalField(
        max_digits=types.DECIMAL_MAX_DIGITS,
        decimal_places=types.DECIMAL_MAX_PLACES,
        null=True,
        blank=True,
    )
    value_boolean = models.BooleanField(null=True, blank=True)
    value_date = models.DateField(null=True, blank=True)
    value_datetime = models.DateTimeField(null=True, blank=True)
    value_json = models.JSONField(null=True, blank=True)

    history = ValueHistoricalRecords(
        bases=[HistoryBase],
        user_related_name="+",
        history_change_reason_field=models.TextField(null=True, blank=True),
        no_db_index=["company", "definition", "content_type"],
    )

    class Meta:
        constraints = [
            # One value per field and object; company first as in every unique
            # constraint (Citus), and it serves the filters' per-row probe
            # (company, definition, object_id). On PostgreSQL its index also
            # carries the fixed-size value columns (migration 0002), so that a
            # filter walks it in object order without reading the table.
            models.UniqueConstraint(
                fields=["company", "definition", "object_id"],
                name="ext_value_unique",
            )
        ]
        indexes = [
            # Fetch all values of a page of objects.
            models.Index(
                fields=["company", "content_type", "object_id"],
                name="ext_value_object",
            ),
            # Value lookups: ext__<name>__<lookup> filters scan these. Partial,
            # so each holds only the rows of its storage kind.
            *[
                models.Index(
                    fields=["definition", column],
                    name=f"ext_value_{column[6:]}",
                    condition=models.Q(**{f"{column}__isnull": False}),
                )
                for column in ("value_text", "value_integer", "value_decimal")
                + ("value_boolean", "value_date", "value_datetime")
            ],
        ]

    def __str__(self) -> str:
        return f"{self.definition_id}@{self.content_type_id}:{self.object_id}"

    @property
    def value(self):
        return getattr(self, self.definition.column)

    def set_value(self, value) -> None:
        """Store ``value`` in the column of the definition's type, clear the rest."""
        column = self.definition.column
        for name in types.VALUE_COLUMNS:
            setattr(self, name, value if name == column else None)
