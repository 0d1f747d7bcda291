"""Which models have which feature, so that other parts can ask instead of hard-coding lists."""

from django.apps import apps

FEATURES = {}


def build():
    """Fill FEATURES from the installed models; called once when Django starts."""
    from kinfolk.core.models import ChangeLoggedMixin, CustomFieldsMixin, TeamOwnedMixin, TimestampedModel

    mixins = {
        "timestamps": TimestampedModel,
        "custom_fields": CustomFieldsMixin,
        "change_logging": ChangeLoggedMixin,
        "team_owned": TeamOwnedMixin,
    }
    FEATURES.clear()
    for feature, mixin in mixins.items():
        FEATURES[feature] = [m for m in apps.get_models() if issubclass(m, mixin)]


def models_with(feature):
    """The models that have a feature: 'timestamps', 'custom_fields', 'change_logging', 'team_owned'."""
    return list(FEATURES.get(feature, ()))
