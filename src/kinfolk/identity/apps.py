from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "kinfolk.identity"
    label = "identity"
    verbose_name = "Identity resolution"

    def ready(self):
        from kinfolk.identity import events, tasks  # noqa: F401 (registers the event and job handlers)
