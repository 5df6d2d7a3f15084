import django.db.models.deletion
from django.db import migrations, models

# The fixed-size value columns, carried by the unique index on PostgreSQL. Text and
# JSON stay out: a long value would exceed a B-tree entry's size limit.
COVERED = "value_integer, value_decimal, value_boolean, value_date, value_datetime"
TABLE = "extensions_extensionvalue"
KEY = "company_id, definition_id, object_id"


def _rebuild(include: str):
    def operation(apps, schema_editor):
        # INCLUDE exists on PostgreSQL only (Django would warn on SQLite if the
        # model declared it), so the constraint keeps its declared columns and
        # only its index changes here.
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(
            f"ALTER TABLE {TABLE} DROP CONSTRAINT ext_value_unique, "
            f"ADD CONSTRAINT ext_value_unique UNIQUE ({KEY}){include}"
        )

    return operation


class Migration(migrations.Migration):
    dependencies = [
        ("businessobjects", "0002_history_audit_indexes"),
        ("extensions", "0001_initial"),
    ]

    operations = [
        # Every other index of the table starts with company.
        migrations.AlterField(
            model_name="extensionvalue",
            name="company",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="businessobjects.company",
            ),
        ),
        # A filter on a custom field walks this index in object order and reads
        # the value from it (index-only), stopping after one page.
        migrations.RunPython(_rebuild(f" INCLUDE ({COVERED})"), _rebuild("")),
    ]
