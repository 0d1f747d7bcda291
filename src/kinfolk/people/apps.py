from django.apps import AppConfig


class PeopleConfig(AppConfig):
    name = "kinfolk.people"
    label = "people"
    verbose_name = "People and organisations"
