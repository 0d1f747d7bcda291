from django.apps import AppConfig


class ActivitiesConfig(AppConfig):
    name = "kinfolk.activities"
    label = "activities"
    verbose_name = "Activities"
