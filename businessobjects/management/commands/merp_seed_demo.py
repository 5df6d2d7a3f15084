import random

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from rest_framework.authtoken.models import Token

from businessobjects import services
from businessobjects.context import use_context
from businessobjects.models import Company, Membership, Partner

DEMO_PASSWORD = "demo-pass-123"
COMPANIES = ("Acme Corp", "Globex Inc")
_FIRST = ("Nordic", "Blue", "Golden", "Rapid", "Silver", "Green", "Prime", "Urban")
_SECOND = ("Trading", "Logistics", "Foods", "Systems", "Textiles", "Motors", "Labs")
_SUFFIX = ("GmbH", "Ltd", "SA", "Inc", "BV", "AG")


class Command(BaseCommand):
    help = (
        "Load the demo data of `make run` (idempotent): two companies, an admin and "
        "a member per company with tokens, and a few hundred partners each."
    )

    def add_arguments(self, parser):
        parser.add_argument("--partners", type=int, default=300)

    # One transaction: an interrupted seed leaves nothing half-made to trip over.
    @transaction.atomic
    def handle(self, *args, partners: int, **options):
        User = get_user_model()
        rows = []
        for name in COMPANIES:
            company, _ = Company.objects.get_or_create(name=name)
            slug = name.split()[0].lower()
            for role in (Membership.Role.ADMIN, Membership.Role.MEMBER):
                username = f"{slug}_{role}"
                user, created = User.objects.get_or_create(username=username)
                if created:
                    user.set_password(DEMO_PASSWORD)
                    user.is_staff = role == Membership.Role.ADMIN
                    user.save()
                Membership.objects.get_or_create(
                    user=user,
                    company=company,
                    defaults={"role": role, "is_default": True},
                )
                token, _ = Token.objects.get_or_create(user=user)
                rows.append((company, username, role, token.key))
            admin_user = User.objects.get(username=f"{slug}_admin")
            if not Partner.objects.for_company(company).exists():
                rng = random.Random(f"merp-demo-{name}")
                with use_context(user=admin_user, company=company):
                    services.bulk_create(
                        Partner,
                        rows=[self._partner(rng, i) for i in range(partners)],
                        company=company,
                        user=admin_user,
                    )
        self.stdout.write(f"Demo users (password for all: {DEMO_PASSWORD}):")
        for company, username, role, key in rows:
            self.stdout.write(
                f"  {username:<16} {role:<7} company {company.pk} ({company.name})  "
                f"token {key}"
            )

    def _partner(self, rng: random.Random, index: int) -> dict:
        name = f"{rng.choice(_FIRST)} {rng.choice(_SECOND)} {rng.choice(_SUFFIX)}"
        slug = name.split()[0].lower()
        return {
            "name": f"{name} #{index + 1}",
            "email": f"info{index + 1}@{slug}.example.com",
            "phone": f"+49 30 {rng.randint(1000000, 9999999)}",
            "is_active": rng.random() > 0.1,
        }
