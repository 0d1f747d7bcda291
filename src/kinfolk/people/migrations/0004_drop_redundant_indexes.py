import django.db.models.deletion
from django.db import migrations, models

from kinfolk.core.db import drop_index


class Migration(migrations.Migration):
    """Indexes that others already cover: a person's display name (person_display_name_idx starts with it)
    and an email's person (email_unique_per_person starts with it). Each cost every write of the row."""

    dependencies = [
        ("people", "0003_persontag_person_team_idx"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="emailaddress",
                    name="person",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="emails",
                        to="people.person",
                    ),
                ),
                migrations.AlterField(
                    model_name="person",
                    name="display_name",
                    field=models.CharField(blank=True, max_length=300, verbose_name="display name"),
                ),
            ],
            database_operations=[
                drop_index("people.EmailAddress", "person"),
                drop_index("people.Person", "display_name"),
            ],
        ),
    ]
