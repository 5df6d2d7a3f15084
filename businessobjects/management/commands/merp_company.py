from django.core.management.base import BaseCommand, CommandError

from businessobjects.models import Company


class Command(BaseCommand):
    help = 'Manage companies: `merp_company create "<name>"` prints the new id.'

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a company and print its id.")
        create.add_argument("name")
        sub.add_parser("list", help="List companies (id and name).")

    def handle(self, *args, action, **options):
        if action == "create":
            name = options["name"].strip()
            if not name:
                raise CommandError("The company name must not be empty.")
            if Company.objects.filter(name=name).exists():
                raise CommandError(f"A company named {name!r} already exists.")
            company = Company.objects.create(name=name)
            self.stdout.write(str(company.pk))
        else:
            for company in Company.objects.order_by("id"):
                self.stdout.write(f"{company.pk}\t{company.name}")
