from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework.authtoken.models import Token

from businessobjects.models import Company, Membership
from businessobjects.params import is_id


class Command(BaseCommand):
    help = (
        "Manage users: `merp_user create <username> --password <pw> "
        '--company "<name>" --role admin|member` creates the user if needed and adds '
        "the membership (the user's first membership becomes the default). An "
        "existing user's password changes only with --set-password, an existing "
        "membership's role only with --role."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a user and/or a membership.")
        create.add_argument("username")
        create.add_argument(
            "--password",
            help="The new user's password (Django's password validators apply). "
            "Ignored for an existing user unless --set-password is given.",
        )
        create.add_argument(
            "--set-password",
            action="store_true",
            help="Change an existing user's password to --password.",
        )
        create.add_argument("--company", required=True, help="Company name or id.")
        create.add_argument(
            "--role",
            choices=[r.value for r in Membership.Role],
            default=None,
            help="Role of a new membership (default: member); changes an existing "
            "membership's role.",
        )
        create.add_argument("--email", default="")
        create.add_argument(
            "--token", action="store_true", help="Also print the user's API token."
        )

    def handle(self, *args, action, **options):
        company = self._company(options["company"])
        username, password = options["username"], options["password"]
        role = options["role"]
        if options["set_password"] and not password:
            raise CommandError("--set-password needs --password <new password>.")
        User = get_user_model()
        lines = []
        with transaction.atomic():
            user = User.objects.filter(username=username).first()
            created = user is None
            if created:
                if not password:
                    raise CommandError(
                        f"User {username!r} does not exist: give --password to "
                        "create it."
                    )
                user = User(username=username, email=options["email"])
            if created or options["set_password"]:
                self._validate(password, user)
                user.set_password(password)
                if not created:
                    lines.append(f"password of {username} changed")
            elif password:
                lines.append(
                    f"password of {username} unchanged (--set-password changes it)"
                )
            membership = (
                None
                if created
                else Membership.objects.filter(user=user, company=company).first()
            )
            if membership is None:
                membership_role = role or Membership.Role.MEMBER
            else:
                membership_role = role or membership.role
                if membership_role != membership.role:
                    lines.append(
                        f"role of {username} in {company.name} changed: "
                        f"{membership.role} -> {membership_role}"
                    )
            # Company admins use the Django admin, which needs is_staff.
            if membership_role == Membership.Role.ADMIN:
                user.is_staff = True
            user.save()
            if membership is None:
                has_default = Membership.objects.filter(
                    user=user, is_default=True
                ).exists()
                membership = Membership.objects.create(
                    user=user,
                    company=company,
                    role=membership_role,
                    is_default=not has_default,
                )
            elif membership.role != membership_role:
                membership.role = membership_role
                membership.save(update_fields=["role"])
        verb = "Created user" if created else "User"
        self.stdout.write(
            f"{verb} {user.username} (id {user.pk}): {membership.role} of "
            f"{company.name}{' (default company)' if membership.is_default else ''}"
        )
        for line in lines:
            self.stdout.write(line)
        if options["token"]:
            token, _ = Token.objects.get_or_create(user=user)
            self.stdout.write(f"token: {token.key}")

    def _validate(self, password: str, user) -> None:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise CommandError(
                "\n".join(f"--password: {message}" for message in exc.messages)
            ) from None

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
