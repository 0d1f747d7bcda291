import django.db.models.deletion
from django.db import migrations, models

from kinfolk.core.db import drop_index


class Migration(migrations.Migration):
    """Change records lose two indexes that nothing reads and every write pays for: the object type
    (change_object_idx starts with it) and the request id (never looked up)."""

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("core", "0002_jobs"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="changerecord",
                    name="object_type",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="contenttypes.contenttype",
                    ),
                ),
                migrations.AlterField(
                    model_name="changerecord",
                    name="request_id",
                    field=models.CharField(blank=True, max_length=64),
                ),
            ],
            database_operations=[
                drop_index("core.ChangeRecord", "object_type"),
                drop_index("core.ChangeRecord", "request_id"),
            ],
        ),
    ]
