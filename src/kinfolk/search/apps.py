from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "kinfolk.search"
    label = "search"
    verbose_name = "Search"

    def ready(self):
        from kinfolk.search import events  # noqa: F401 (registers the index's event handlers)
