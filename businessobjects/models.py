from django.conf import settings
from django.db import models

from . import context
from .registry import register


class Company(models.Model):
    name = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "companies"

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", "Company admin"
        MEMBER = "member", "Member"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    company = models.ForeignKey(
        Company, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.MEMBER)
    is_default = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "company"], name="membership_unique_user_company"
            ),
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(is_default=True),
                name="membership_one_default_per_user",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.company} ({self.role})"

    @property
    def is_admin(self) -> bool:
        return self.role == self.Role.ADMIN


class CompanyQuerySet(models.QuerySet):
    def for_company(self, company) -> "CompanyQuerySet":
        """Return the rows of ``company`` only (a Company or its id).

        ``None`` is refused rather than read as "no filter": an empty company filter
        that shows every company is exactly the leak this framework exists to stop.
        """
        if company is None:
            raise ValueError(
                "for_company() needs a company; pass a Company or its id. "
                "Use businessobjects.context.use_context() in scripts and tasks."
            )
        company_id = company if isinstance(company, int) else company.pk
        return self.filter(company_id=company_id)

    def for_active_company(self) -> "CompanyQuerySet":
        """Return the rows of the company active in the current request or context."""
        return self.for_company(context.get_company())


CompanyManager = models.Manager.from_queryset(CompanyQuerySet)


class BusinessObject(models.Model):
    """Base of every company-scoped business object.

    Subclass it, then ``@register`` the subclass: it gets history, events, custom
    fields, a REST endpoint and an admin. Write only through
    ``businessobjects.services``.
    """

    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    version = models.PositiveIntegerField(default=1)

    objects = CompanyManager()

    class Meta:
        abstract = True
        ordering = ["-id"]

    # Fields that the framework manages; API input never sets them.
    SYSTEM_FIELDS = (
        "id",
        "company",
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
        "version",
    )


@register(
    search_fields=["name", "email"],
    filter_fields=["is_active", "email"],
    list_display=["name", "email", "phone", "is_active", "company", "updated_at"],
    list_filter=["is_active"],
    admin_inlines=["address", "contact"],
)
class Partner(BusinessObject):
    name = models.CharField(max_length=255)
    email = models.EmailField(blank=True, default="")
    phone = models.CharField(max_length=50, blank=True, default="")
    is_active = models.BooleanField(default=True)

    class Meta(BusinessObject.Meta):
        indexes = [
            models.Index(fields=["company", "-id"], name="partner_company_id"),
            models.Index(fields=["company", "name"], name="partner_company_name"),
            models.Index(fields=["company", "email"], name="partner_company_email"),
            models.Index(
                fields=["company", "is_active"], name="partner_company_active"
            ),
        ]

    def __str__(self) -> str:
        return self.name


@register(
    plural="addresses",
    search_fields=["street", "city", "postal_code"],
    filter_fields=["partner", "city", "country", "postal_code"],
    list_display=["__str__", "partner", "city", "country", "company", "updated_at"],
    list_filter=["country"],
)
class Address(BusinessObject):
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+")
    street = models.CharField(max_length=255, blank=True, default="")
    city = models.CharField(max_length=120, blank=True, default="")
    postal_code = models.CharField(max_length=20, blank=True, default="")
    country = models.CharField(max_length=2, blank=True, default="")

    class Meta(BusinessObject.Meta):
        verbose_name_plural = "addresses"
        indexes = [
            models.Index(fields=["company", "-id"], name="address_company_id"),
            models.Index(fields=["company", "partner"], name="address_company_partner"),
            models.Index(fields=["company", "city"], name="address_company_city"),
        ]

    def __str__(self) -> str:
        return ", ".join(p for p in (self.street, self.postal_code, self.city) if p)


@register(
    search_fields=["name", "email"],
    filter_fields=["partner", "email"],
    list_display=["name", "partner", "email", "phone", "company", "updated_at"],
)
class Contact(BusinessObject):
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=255)
    email = models.EmailField(blank=True, default="")
    phone = models.CharField(max_length=50, blank=True, default="")

    class Meta(BusinessObject.Meta):
        indexes = [
            models.Index(fields=["company", "-id"], name="contact_company_id"),
            models.Index(fields=["company", "partner"], name="contact_company_partner"),
            models.Index(fields=["company", "name"], name="contact_company_name"),
        ]

    def __str__(self) -> str:
        return self.name
