from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "kinfolk.web"
    label = "web"
    verbose_name = "Web application"
