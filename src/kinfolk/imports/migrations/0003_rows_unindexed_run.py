import django.db.models.deletion
from django.db import migrations, models

from kinfolk.core.db import drop_index


class Migration(migrations.Migration):
    """The unique (run, row_number) serves lookups of a run's rows: the run's own index only cost writes."""

    dependencies = [
        ("imports", "0002_rows_expected"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="importrowresult",
                    name="run",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="rows",
                        to="imports.importrun",
                    ),
                ),
            ],
            database_operations=[drop_index("imports.ImportRowResult", "run")],
        ),
    ]
