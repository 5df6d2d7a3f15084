import codecs
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from businessobjects import imports, selectors
from businessobjects.conf import merp_settings
from businessobjects.models import Company, Membership
from businessobjects.params import is_id
from businessobjects.registry import get_registration


class Command(BaseCommand):
    help = (
        "Import business objects from a CSV file through the service layer (with "
        "custom fields as ext:<name> columns, history and events). Nothing is "
        "imported if any row is bad, unless --allow-partial; --dry-run only "
        "reports. Exits non-zero when a row was rejected."
    )

    def add_arguments(self, parser):
        parser.add_argument("csv", type=Path, help="CSV file with a header line.")
        parser.add_argument(
            "--model", default="partner", help="Business object name (partner)."
        )
        parser.add_argument(
            "--company",
            help="Company name or id (default: the --user's default company).",
        )
        parser.add_argument(
            "--user", help="Username recorded in history and events as the author."
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=None,
            help="Rows per INSERT (default: MERP BULK_BATCH_SIZE).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Validate every row and report; write nothing.",
        )
        parser.add_argument(
            "--allow-partial",
            action="store_true",
            help="Import the good rows even when some rows are bad.",
        )
        parser.add_argument(
            "--delimiter",
            default=",",
            help="One character between values (default ,); \\t or tab for tabs.",
        )
        parser.add_argument(
            "--encoding",
            default="utf-8-sig",
            help="The file's encoding (default UTF-8, with or without BOM), e.g. "
            "latin-1 or cp1252 for spreadsheet exports.",
        )

    def handle(self, *args, **options):
        try:
            model = get_registration(options["model"]).model
        except LookupError as exc:
            raise CommandError(str(exc)) from None
        user = self._user(options["user"])
        company = self._company(options["company"], user)
        path: Path = options["csv"]
        delimiter = self._delimiter(options["delimiter"])
        encoding = self._encoding(options["encoding"])
        try:
            with path.open(encoding=encoding, newline="") as stream:
                total = imports.count_rows(stream, delimiter=delimiter)
                stream.seek(0)
                # tqdm draws only on a terminal (disable=None); quiet at -v 0. It
                # gets the raw stream: OutputWrapper.write would add newlines.
                with tqdm(
                    total=total,
                    unit="row",
                    desc=path.name,
                    file=self.stderr._out,
                    disable=None if options["verbosity"] else True,
                ) as bar:
                    result = imports.import_rows(
                        model,
                        stream,
                        company=company,
                        user=user,
                        batch_size=options["batch_size"]
                        or merp_settings.BULK_BATCH_SIZE,
                        dry_run=options["dry_run"],
                        allow_partial=options["allow_partial"],
                        delimiter=delimiter,
                        on_batch=bar.update,
                    )
        except UnicodeDecodeError as exc:
            raise CommandError(
                f"{path}: not readable as {encoding} (byte {exc.start}); pass the "
                "file's encoding with --encoding, e.g. --encoding latin-1."
            ) from None
        except (OSError, imports.ImportFileError) as exc:
            raise CommandError(f"{path}: {exc}") from None

        for error in result.errors:
            self.stderr.write(str(error))
        plural = model._meta.verbose_name_plural
        good = result.rows - len(result.errors)
        if options["dry_run"]:
            self.stdout.write(
                f"Dry run: {good} of {result.rows} rows would be imported into "
                f"{company.name}; {len(result.errors)} bad row(s). Nothing written."
            )
        elif result.committed:
            self.stdout.write(
                f"Imported {result.created} {plural} into {company.name} "
                f"(correlation id {result.correlation_id})."
            )
        if result.errors:
            if options["dry_run"] or result.committed:
                outcome = "rejected"
            else:
                outcome = "nothing imported (fix them, or pass --allow-partial)"
            raise CommandError(
                f"{len(result.errors)} bad row(s) of {result.rows}: {outcome}.",
                returncode=1,
            )

    @staticmethod
    def _delimiter(value: str) -> str:
        value = {"\\t": "\t", "tab": "\t"}.get(value, value)
        if len(value) != 1 or value in '\r\n"':
            raise CommandError(
                f"--delimiter must be one character (a quote or newline cannot "
                f"be one), not {value!r}."
            )
        return value

    @staticmethod
    def _encoding(value: str) -> str:
        try:
            return codecs.lookup(value).name
        except LookupError:
            raise CommandError(
                f"--encoding {value!r} is not an encoding Python knows "
                "(e.g. utf-8, latin-1, cp1252)."
            ) from None

    def _user(self, username):
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(
                f"No user {username!r}; create one with: manage.py merp_user create"
            )
        return user

    def _company(self, value, user) -> Company:
        if value is None:
            membership = selectors.default_membership(user) if user else None
            if membership is None:
                raise CommandError("Pass --company (or a --user with a company).")
            return membership.company
        company = Company.objects.filter(name=value).first()
        if company is None and is_id(value):
            company = Company.objects.filter(pk=int(value)).first()
        if company is None:
            raise CommandError(f"No company {value!r}.")
        if (
            user is not None
            and not user.is_superuser
            and not Membership.objects.filter(user=user, company=company).exists()
        ):
            raise CommandError(f"{user.username} is not a member of {company.name}.")
        return company
