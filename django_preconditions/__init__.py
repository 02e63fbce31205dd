"""django-preconditions: make every unsafe request prove which version it edits.

The public API is re-exported here; see the documentation for a guided tour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0.dev0"

__all__ = [
    "Decision",
    "MalformedHeader",
    "Outcome",
    "Policy",
    "PreconditionError",
    "Reason",
    "Requirement",
    "ResourceState",
    "VersionConflict",
    "VersionedModel",
    "evaluate",
    "expect_version",
    "precondition_failed",
    "precondition_required",
    "require_preconditions",
]

from .conditions import Decision, Outcome, Reason, Requirement, ResourceState, evaluate
from .exceptions import MalformedHeader, VersionConflict
from .policy import Policy
from .responses import PreconditionError
from .signals import precondition_failed, precondition_required

if TYPE_CHECKING:
    from .decorators import require_preconditions
    from .models import VersionedModel, expect_version


def __getattr__(name: str) -> Any:
    # Models and model-dependent helpers import django.db.models; importing them lazily keeps
    # `import django_preconditions` safe before the app registry is ready (e.g. in settings).
    if name == "VersionedModel" or name == "expect_version":
        from . import models

        return getattr(models, name)
    if name == "require_preconditions":
        from .decorators import require_preconditions

        return require_preconditions
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
