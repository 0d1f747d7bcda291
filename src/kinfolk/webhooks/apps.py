from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "kinfolk.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"

    def ready(self):
        from kinfolk.webhooks import events, tasks  # noqa: F401 (event handler, job handler, periodic sweep)
