from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework.authtoken.models import Token

from businessobjects.models import Company, Membership
from businessobjects.params import is_id


class Command(BaseCommand):
    help = (
        "Manage users: `merp_user create <username> --password <pw> "
        '--company "<name>" --role admin|member` creates the user if needed and adds '
        "the membership (the user's first membership becomes the default)."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a user and/or a membership.")
        create.add_argument("username")
        create.add_argument("--password", required=True)
        create.add_argument("--company", required=True, help="Company name or id.")
        create.add_argument(
            "--role", choices=[r.value for r in Membership.Role], default="member"
        )
        create.add_argument("--email", default="")
        create.add_argument(
            "--token", action="store_true", help="Also print the user's API token."
        )

    def handle(self, *args, action, **options):
        company = self._company(options["company"])
        role = options["role"]
        User = get_user_model()
        with transaction.atomic():
            user, created = User.objects.get_or_create(
                username=options["username"], defaults={"email": options["email"]}
            )
            if created or not user.check_password(options["password"]):
                user.set_password(options["password"])
            # Company admins use the Django admin, which needs is_staff.
            if role == Membership.Role.ADMIN:
                user.is_staff = True
            user.save()
            has_default = Membership.objects.filter(user=user, is_default=True).exists()
            membership, _ = Membership.objects.update_or_create(
                user=user,
                company=company,
                defaults={"role": role},
                create_defaults={"role": role, "is_default": not has_default},
            )
        verb = "Created" if created else "Updated"
        self.stdout.write(
            f"{verb} user {user.username} (id {user.pk}): {role} of {company.name}"
            f"{' (default company)' if membership.is_default else ''}"
        )
        if options["token"]:
            token, _ = Token.objects.get_or_create(user=user)
            self.stdout.write(f"token: {token.key}")

    def _company(self, value: str) -> Company:
        company = Company.objects.filter(name=value).first()
        if company is None and is_id(value):
            company = Company.objects.filter(pk=int(value)).first()
        if company is None:
            raise CommandError(
                f"No company {value!r}; create it with: manage.py merp_company create "
                f'"{value}"'
            )
        return company
