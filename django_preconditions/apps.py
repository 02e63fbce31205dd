from __future__ import annotations

import importlib.util

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PreconditionsConfig(AppConfig):
    name = "django_preconditions"
    verbose_name = _("Preconditions")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from . import interop_checks  # noqa: F401  (registers the CORS check W002)
        from ._compat import register_on_delete_serializer
        from .checks import register_checks
        from .models import ProtectedEndpoint
        from .relations import connect_relations
        from .rules import invalidate_rules

        register_checks()
        connect_relations()
        register_on_delete_serializer()
        register_schema_extension()
        post_save.connect(
            invalidate_rules, sender=ProtectedEndpoint, dispatch_uid="preconditions-rules-save"
        )
        post_delete.connect(
            invalidate_rules, sender=ProtectedEndpoint, dispatch_uid="preconditions-rules-delete"
        )


def register_schema_extension() -> None:
    """drf-spectacular documents the headers and responses of every ``PreconditionMixin``
    view once our extension is imported (its documented place: ``AppConfig.ready()``)."""
    if importlib.util.find_spec("drf_spectacular") is not None:
        from . import spectacular  # noqa: F401
