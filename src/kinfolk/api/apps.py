from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "kinfolk.api"
    label = "api"
    verbose_name = "REST API"

    def ready(self):
        from kinfolk.api import schema  # noqa: F401  (registers the OpenAPI extensions)
