"""The default matching rules, active from the start; administrators may change them."""

from django.db import migrations


def create_default(apps, schema_editor):
    from kinfolk.identity.models import default_rules

    MatchRuleSet = apps.get_model("identity", "MatchRuleSet")
    MatchRuleSet.objects.get_or_create(
        name="default", defaults={"is_active": True, "rules": default_rules(), "review_threshold": 8.0}
    )


class Migration(migrations.Migration):
    dependencies = [("identity", "0001_initial")]
    operations = [migrations.RunPython(create_default, migrations.RunPython.noop)]
