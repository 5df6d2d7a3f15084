"""merp_import: batches through the services, every bad row reported, all or nothing."""

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from businessobjects import services
from businessobjects.models import Address, Partner
from events.models import OutboxEvent
from tests.testapp.models import Product

pytestmark = pytest.mark.django_db


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def csv_file(tmp_path):
    def write(text: str, name: str = "data.csv") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


def run_import(path, *args, stderr=None):
    out, err = io.StringIO(), stderr if stderr is not None else io.StringIO()
    try:
        call_command("merp_import", str(path), *args, stdout=out, stderr=err)
    except CommandError as exc:
        return out.getvalue(), err.getvalue(), exc
    return out.getvalue(), err.getvalue(), None


def test_good_rows_are_imported_with_history_and_events(csv_file, company_a, admin_a):
    path = csv_file(
        "name,email,phone,is_active\n"
        "Alpha GmbH,alpha@example.com,+49 1,true\n"
        "Beta Ltd,,,no\n"
        '"Gamma, Inc",gamma@example.com,,\n'
    )
    out, err, error = run_import(
        path, "--model", "partner", "--company", "Company A", "--user", "admin_a"
    )
    assert error is None, err
    assert err == ""  # no progress bar off a terminal
    assert "Imported 3 partners into Company A" in out
    partners = Partner.objects.for_company(company_a).order_by("name")
    assert [(p.name, p.email, p.is_active) for p in partners] == [
        ("Alpha GmbH", "alpha@example.com", True),
        ("Beta Ltd", "", False),
        ("Gamma, Inc", "gamma@example.com", True),
    ]
    correlation_id = out.split("correlation id ")[1].rstrip(").\n")
    history = Partner.history.filter(company_id=company_a.pk)
    assert history.count() == 3
    assert {h.correlation_id for h in history} == {correlation_id}
    assert {h.history_user_id for h in history} == {admin_a.pk}
    assert history.get(name="Beta Ltd").changes["is_active"] == {
        "old": None,
        "new": False,
    }
    events = OutboxEvent.objects.filter(company_id=company_a.pk)
    assert (
        sorted(events.values_list("event_type", flat=True)) == ["partner.created"] * 3
    )
    assert {e.user_id for e in events} == {admin_a.pk}


def test_bad_rows_leave_the_file_unimported(csv_file, company_a, admin_a):
    path = csv_file(
        "name,email,is_active\n"
        "Good One,good@example.com,true\n"
        ",not-an-email,maybe\n"
        "Good Two,,\n"
        "Too,many,values,here\n"
        "Good Three,three@example.com,1\n"
    )
    out, err, error = run_import(path, "--user", "admin_a", "--batch-size", "2")
    assert error is not None and error.returncode == 1
    assert "nothing imported" in str(error)
    assert err.splitlines() == [
        "line 3: name: This field cannot be blank.; email: Enter a valid email "
        "address.; is_active: “maybe” value must be either True or False.",
        "line 5: 4 values for 3 columns.",
    ]
    assert not Partner.objects.for_company(company_a).exists()
    assert not Partner.history.filter(company_id=company_a.pk).exists()
    assert not OutboxEvent.objects.exists()


def test_allow_partial_imports_the_good_rows(csv_file, company_a, admin_a):
    path = csv_file("name,email\nGood One,\n,x\nGood Two,\n")
    out, err, error = run_import(path, "--user", "admin_a", "--allow-partial")
    assert "Imported 2 partners" in out
    assert err.splitlines() == [
        "line 3: name: This field cannot be blank.; email: Enter a valid email address."
    ]
    assert error is not None and "rejected" in str(error)  # still non-zero
    assert Partner.objects.for_company(company_a).count() == 2
    assert OutboxEvent.objects.count() == 2


def test_dry_run_writes_nothing(csv_file, company_a, admin_a):
    path = csv_file("name\nOne\nTwo\n")
    out, err, error = run_import(path, "--user", "admin_a", "--dry-run")
    assert error is None
    assert "Dry run: 2 of 2 rows would be imported into Company A" in out
    assert not Partner.objects.exists()
    assert not OutboxEvent.objects.exists()


def test_dry_run_reports_every_bad_row_with_its_line(csv_file, company_a, admin_a):
    path = csv_file('name,email\n"Two\nline name",two@example.com\n,\nOk,\n,bad\n')
    out, err, error = run_import(
        path, "--user", "admin_a", "--dry-run", "--batch-size", "1"
    )
    assert error is not None and error.returncode == 1
    assert "2 of 4 rows would be imported" in out
    # The quoted value spans lines 2-3, so the blank name is on line 4.
    assert err.splitlines() == [
        "line 4: name: This field cannot be blank.",
        "line 6: name: This field cannot be blank.; email: Enter a valid email "
        "address.",
    ]
    assert not Partner.objects.exists()


def test_uniqueness_violations_are_pinned_to_their_lines(csv_file, company_a, admin_a):
    services.create(Product, data={"sku": "OLD", "name": "Existing"}, company=company_a)
    path = csv_file(
        "sku,name,price\n"
        "A,Anvil,10\n"
        "B,Bolt,0.5\n"
        "A,Anvil again,11\n"
        "C,Chain,3\n"
        "OLD,Clash,1\n"
    )
    out, err, error = run_import(
        path, "--model", "product", "--user", "admin_a", "--batch-size", "4"
    )
    assert error is not None
    lines = err.splitlines()
    assert [line.split(":")[0] for line in lines] == ["line 4", "line 6"]
    assert all("Violates a uniqueness rule" in line for line in lines)
    assert Product.objects.for_company(company_a).count() == 1

    out, err, error = run_import(
        path, "--model", "product", "--user", "admin_a", "--allow-partial"
    )
    skus = Product.objects.for_company(company_a).values_list("sku", flat=True)
    assert sorted(skus) == ["A", "B", "C", "OLD"]
    assert Product.objects.for_company(company_a).get(sku="A").name == "Anvil"


def test_custom_field_columns_reach_the_extension_hooks(csv_file, company_a, admin_a):
    # Both header spellings become the row's `extensions`; with no such custom
    # field defined, the extensions hooks refuse it and name it.
    path = csv_file(
        "name,ext:tier,extensions.region\nAcme,gold,\nBeta,,north\nGamma,,\n"
    )
    out, err, error = run_import(path, "--user", "admin_a")
    assert error is not None
    assert err.splitlines() == [
        "line 2: extensions: tier: Unknown custom field 'tier'. Known fields: none.",
        "line 3: extensions: region: Unknown custom field 'region'. "
        "Known fields: none.",
    ]
    assert not Partner.objects.exists()


def test_foreign_keys_stay_inside_the_company(csv_file, company_a, company_b, admin_a):
    ours = services.create(Partner, data={"name": "Ours"}, company=company_a)
    theirs = services.create(Partner, data={"name": "Theirs"}, company=company_b)
    path = csv_file(f"partner,city\n{ours.pk},Berlin\n{theirs.pk},Paris\n")
    out, err, error = run_import(
        path, "--model", "address", "--user", "admin_a", "--allow-partial"
    )
    assert err.splitlines() == [
        f'line 3: partner: Invalid pk "{theirs.pk}" - object does not exist.'
    ]
    assert list(Address.objects.for_company(company_a).values_list("city", flat=True))
    assert not Address.objects.for_company(company_b).exists()


def test_progress_bar_only_on_a_terminal(csv_file, company_a, admin_a):
    path = csv_file("name\n" + "".join(f"P{i}\n" for i in range(5)))
    terminal = Terminal()
    out, err, error = run_import(
        path, "--user", "admin_a", "--batch-size", "2", stderr=terminal
    )
    assert error is None
    assert "5/5" in err and "100%" in err
    # Malformed rows count as read too, so the bar still reaches the end.
    ragged = csv_file("name,email\nA,\nB,x,y\nC,\n", "ragged.csv")
    terminal = Terminal()
    run_import(ragged, "--user", "admin_a", "--dry-run", stderr=terminal)
    assert "3/3" in terminal.getvalue()
    out, err, error = run_import(path, "--user", "admin_a", "--dry-run")
    assert err == ""


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("nme,email", "unknown column(s) 'nme'"),
        ("name,email,email", "duplicate column(s) email"),
        ("name,company", "unknown column(s) 'company'"),
        ("name,version", "unknown column(s) 'version'"),
        ("name,ext:", "unknown column(s) 'ext:'"),
    ],
)
def test_bad_header_is_refused(csv_file, company_a, admin_a, header, message):
    path = csv_file(f"{header}\nAcme,a@example.com,x\n")
    out, err, error = run_import(path, "--user", "admin_a")
    assert error is not None
    assert "line 1: " in str(error) and message in str(error)
    assert not Partner.objects.exists()


def test_empty_file_is_refused(csv_file, company_a, admin_a):
    out, err, error = run_import(csv_file(""), "--user", "admin_a")
    assert error is not None and "empty" in str(error)


def test_company_and_user_are_checked(csv_file, company_a, company_b, admin_a):
    path = csv_file("name\nAcme\n")
    _, _, error = run_import(path, "--user", "admin_a", "--company", "Company B")
    assert "admin_a is not a member of Company B" in str(error)
    _, _, error = run_import(path, "--user", "nobody")
    assert "No user 'nobody'" in str(error)
    _, _, error = run_import(path)
    assert "Pass --company" in str(error)
    _, _, error = run_import(path, "--company", "Company A", "--model", "gizmo")
    assert "not a registered business object" in str(error)
    _, _, error = run_import(path.with_name("missing.csv"), "--company", "Company A")
    assert "missing.csv" in str(error)
    assert not Partner.objects.exists()


def test_by_company_id_without_user(csv_file, company_a):
    path = csv_file("name\nAcme\n")
    out, _, error = run_import(path, "--company", str(company_a.pk))
    assert error is None
    assert Partner.history.get().history_user is None


def test_every_problem_of_a_line_in_one_pass(csv_file, company_a, admin_a):
    from extensions import services as ext

    ext.definition_create(
        company=company_a,
        model="partner",
        name="tier",
        field_type="choice",
        choices=["gold", "silver"],
    )
    ext.definition_create(
        company=company_a,
        model="partner",
        name="code",
        field_type="string",
        required=True,
    )
    path = csv_file(
        "name,email,ext:tier,ext:code\n"
        ",not-an-email,platinum,\n"
        "Ok,ok@example.com,gold,A1\n"
    )
    out, err, error = run_import(path, "--user", "admin_a", "--dry-run")
    assert error is not None and error.returncode == 1
    (line,) = err.splitlines()
    assert line.startswith("line 2: ")
    for problem in (
        "name: This field cannot be blank.",
        "email: Enter a valid email address.",
        "tier: 'platinum' is not one of the choices",
        "code: This custom field is required.",
    ):
        assert problem in line, line


def test_reference_and_custom_field_problems_in_one_pass(
    csv_file, company_a, company_b, admin_a
):
    from extensions import services as ext

    ext.definition_create(
        company=company_a, model="address", name="floor", field_type="integer"
    )
    theirs = services.create(Partner, data={"name": "Theirs"}, company=company_b)
    path = csv_file(f"partner,city,ext:floor\n{theirs.pk},Berlin,high\n")
    out, err, error = run_import(path, "--model", "address", "--user", "admin_a")
    assert error is not None
    (line,) = err.splitlines()
    assert "partner: " in line and "floor: " in line, line
    assert not Address.objects.exists()


def test_semicolon_separated_latin1_file(tmp_path, company_a, admin_a):
    path = tmp_path / "partners.csv"
    text = "name;email;is_active\nMüller & Söhne;m@example.com;yes\nCafé Zürich;;no\n"
    path.write_bytes(text.encode("latin-1"))
    # Read as UTF-8 (the default) the file is refused with one clear line.
    out, err, error = run_import(path, "--user", "admin_a", "--delimiter", ";")
    assert error is not None and "--encoding" in str(error)
    assert not Partner.objects.exists()
    out, err, error = run_import(
        path, "--user", "admin_a", "--delimiter", ";", "--encoding", "latin-1"
    )
    assert error is None, err
    assert sorted(Partner.objects.values_list("name", "email", "is_active")) == [
        ("Café Zürich", "", False),
        ("Müller & Söhne", "m@example.com", True),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--delimiter", ";;"], "--delimiter"),
        (["--delimiter", ""], "--delimiter"),
        (["--encoding", "no-such-codec"], "--encoding"),
    ],
)
def test_bad_delimiter_or_encoding_is_one_clear_error(
    csv_file, company_a, admin_a, args, message
):
    path = csv_file("name\nAcme\n")
    out, err, error = run_import(path, "--user", "admin_a", *args)
    assert error is not None and message in str(error)
    assert not Partner.objects.exists()


def test_tab_delimiter_by_name(csv_file, company_a, admin_a):
    path = csv_file("name\temail\nAcme\ta@example.com\n")
    out, err, error = run_import(path, "--user", "admin_a", "--delimiter", "\\t")
    assert error is None, err
    assert Partner.objects.get().email == "a@example.com"
