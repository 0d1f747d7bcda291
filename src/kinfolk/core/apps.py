from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "kinfolk.core"
    label = "core"
    verbose_name = "Kinfolk core"

    def ready(self):
        from django.utils.module_loading import autodiscover_modules

        from kinfolk.core import registry

        registry.build()
        # Each app's tasks.py registers its job handlers (kinfolk.core.jobs.job_handler).
        autodiscover_modules("tasks")
