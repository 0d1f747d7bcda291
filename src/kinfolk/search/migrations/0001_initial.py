from django.db import migrations, models

from kinfolk.search.backends import create_index_structures, drop_index_structures


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="SearchEntry",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(max_length=16)),
                ("object_id", models.BigIntegerField()),
                ("title", models.CharField(max_length=300)),
                ("subtitle", models.CharField(blank=True, max_length=300)),
                ("document", models.TextField()),
                ("title_key", models.CharField(db_index=True, max_length=100)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("kind", "object_id"), name="search_entry_unique")
                ],
            },
        ),
        # The vendor's full-text structures: an FTS5 table on SQLite; pg_trgm and GIN indexes on PostgreSQL.
        migrations.RunPython(create_index_structures, drop_index_structures, elidable=False),
    ]
