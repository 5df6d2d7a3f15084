"""Companies, memberships, partners with JSONB custom fields, history, an outbox."""

from django.conf import settings
from django.db import models
from django.db.models.functions import Cast
from simple_history.models import HistoricalRecords

# The custom fields a company may fill in, and their types: in an afternoon, a
# dict in the code rather than definitions in the database.
CUSTOM_FIELDS = {"credit_limit": models.DecimalField(max_digits=20, decimal_places=2)}


def custom_field(key: str):
    """The expression filtered on, and indexed, for custom field ``key``."""
    return Cast(
        models.fields.json.KeyTextTransform(key, "custom_fields"),
        models.DecimalField(max_digits=20, decimal_places=2),
    )


class Company(models.Model):
    name = models.CharField(max_length=200, unique=True)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    company = models.ForeignKey(Company, on_delete=models.CASCADE)
    role = models.CharField(max_length=20, default="member")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "company"], name="hw_membership_user_company"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.company_id}"


class Partner(models.Model):
    company = models.ForeignKey(Company, on_delete=models.PROTECT)
    name = models.CharField(max_length=255)
    email = models.EmailField(blank=True, default="")
    phone = models.CharField(max_length=50, blank=True, default="")
    is_active = models.BooleanField(default=True)
    custom_fields = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        indexes = [
            models.Index(fields=["company", "-id"], name="hw_partner_company_id"),
            # One expression index per filtered custom field.
            models.Index(
                "company",
                custom_field("credit_limit"),
                name="hw_partner_credit_limit",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Outbox(models.Model):
    """An event per write, in the write's transaction; a relay sends them on."""

    company_id = models.BigIntegerField()
    topic = models.CharField(max_length=100)
    object_id = models.BigIntegerField()
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["id"],
                name="hw_outbox_unsent",
                condition=models.Q(sent_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.topic} {self.object_id}"


class NativePartner(models.Model):
    """The limit: the same partners with ``credit_limit`` as a native column.

    Served by a minimal Django view (``views.native_partners``), not the API.
    """

    company_id = models.BigIntegerField()
    name = models.CharField(max_length=255)
    email = models.CharField(max_length=254)
    phone = models.CharField(max_length=50)
    is_active = models.BooleanField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    credit_limit = models.DecimalField(max_digits=20, decimal_places=2, null=True)

    class Meta:
        indexes = [
            models.Index(fields=["company_id", "-id"], name="hw_native_company_id"),
            models.Index(
                fields=["company_id", "credit_limit"], name="hw_native_credit_limit"
            ),
        ]

    def __str__(self) -> str:
        return self.name
