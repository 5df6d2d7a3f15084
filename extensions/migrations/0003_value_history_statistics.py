"""Extended statistics for the custom-field values' history (PostgreSQL).

A definition belongs to one company, so ``company_id`` and ``definition_id`` are
dependent; without being told, PostgreSQL multiplies their selectivities and
estimates an ``ext__`` filter of an ``?as_of=`` list (audit.asof) to keep a
hundredth of the rows it keeps, and picks a plan that reads every matching value
for each page (about 90 ms at 10,000 partners per company, against 10 ms with
the statistics; bench asof).
"""

from django.db import migrations

NAME = "h_ext_value_company_definition"
TABLE = "extensions_historicalextensionvalue"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE STATISTICS IF NOT EXISTS {NAME} (dependencies) "
        f"ON company_id, definition_id FROM {TABLE}"
    )
    schema_editor.execute(f"ANALYZE {TABLE}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP STATISTICS IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [("extensions", "0002_value_indexes")]

    operations = [migrations.RunPython(create, drop)]
