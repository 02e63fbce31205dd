"""Default values of the ``PRECONDITIONS`` settings block (see docs/settings.md)."""

from __future__ import annotations

from typing import Any, Final

from .conditions import IF_MATCH, IF_UNMODIFIED_SINCE
from .formats import ERROR_FORMATS as _REGISTERED

METHODS: Final = ("PUT", "PATCH", "DELETE")
REQUIRED_HEADERS: Final = (IF_MATCH, IF_UNMODIFIED_SINCE)
ALLOW_WILDCARD: Final = False
WEAK_IF_MATCH: Final = True
ERROR_FORMAT: Final = "problem"
INCLUDE_CURRENT_ETAG: Final = True
DOCUMENTATION_URL: Final[str | None] = None
#: "enforce" answers 428 to an unsafe request without a precondition; "report" lets it
#: through and reports it (a precondition that is sent is always evaluated).
ENFORCE: Final = "enforce"
REPORT: Final = "report"
MODE: Final = ENFORCE
MODES: Final = (ENFORCE, REPORT)
#: With ERROR_FORMAT "json": required_headers lists objects (name, description, example,
#: obtain_from) instead of names.
JSON_DETAILED_HEADERS: Final = False
VIEWS: Final[dict[str, dict[str, Any]]] = {}
#: Seconds a process may serve admin rules (ProtectedEndpoint) before reading them again.
#: The process that saves a rule applies it at once; other processes within this bound.
RULES_REFRESH_INTERVAL: Final = 5.0

#: The registered format names (see :mod:`django_preconditions.formats`).
ERROR_FORMATS: Final = tuple(_REGISTERED)
ACCEPTABLE_HEADERS: Final = (IF_MATCH, IF_UNMODIFIED_SINCE)
#: Methods whose preconditions a policy may require (never GET/HEAD/OPTIONS: rule 32).
PROTECTABLE_METHODS: Final = ("POST", "PUT", "PATCH", "DELETE")
