from __future__ import annotations

from django.apps import AppConfig


class PreconditionsConfig(AppConfig):
    name = "django_preconditions"
    verbose_name = "Preconditions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .checks import register_checks

        register_checks()
