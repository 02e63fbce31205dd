"""Typed access to the ``PRECONDITIONS`` settings block.

Each property reads ``django.conf.settings`` on every access, so ``override_settings`` just
works (the django-cors-headers pattern). Values are validated by the system checks in
``checks.py``; but servers such as gunicorn do not run the checks, so a value they reject is
also ignored here (logged once, the default applies): protection never runs on a value it
cannot understand — the string ``"PUT"`` would be the methods ``P``, ``U`` and ``T``, and
``"false"`` is true.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from django.conf import settings

from . import defaults

logger = logging.getLogger("django_preconditions")
_reported: set[tuple[str, str]] = set()


def acceptable(key: str, value: Any, where: str) -> bool:
    """Whether ``value`` is valid for the policy key ``key`` (``validation.VALUE_RULES``, the
    rules of the system checks). An invalid one is logged once, naming ``where`` it was
    configured; the caller then ignores it."""
    from .validation import VALUE_RULES  # imports URL handling, which imports this module

    rule = VALUE_RULES.get(key.lower())
    if rule is None:
        return True
    is_valid, expected, check_id = rule
    try:
        valid = bool(is_valid(value))
    except Exception:
        valid = False
    if not valid:
        _report_ignored(where, value, f"{check_id}: expected {expected}")
    return valid


def is_refresh_interval(value: Any) -> bool:
    """A number of seconds, 0 or more, finite (check E016)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value) and value >= 0
    except OverflowError:  # an int too large for a float
        return False


def _report_ignored(where: str, value: Any, why: str) -> None:
    marker = (where, repr(value))
    if marker in _reported:
        return
    _reported.add(marker)
    logger.error(
        "django-preconditions ignores %s = %r (%s); the default applies until it is fixed "
        "(run `manage.py check`).",
        where,
        value,
        why,
    )


class Settings:
    """The ``PRECONDITIONS`` block with its defaults filled in."""

    @property
    def block(self) -> Mapping[str, Any]:
        value = getattr(settings, "PRECONDITIONS", None)
        return value if isinstance(value, Mapping) else {}

    def _get(self, key: str, default: Any) -> Any:
        block = self.block
        if key not in block:
            return default
        value = block[key]
        if key == "RULES_REFRESH_INTERVAL":
            if is_refresh_interval(value):
                return value
            _report_ignored(f"PRECONDITIONS[{key!r}]", value, "preconditions.E016")
            return default
        return value if acceptable(key, value, f"PRECONDITIONS[{key!r}]") else default

    @property
    def METHODS(self) -> frozenset[str]:
        return frozenset(method.upper() for method in self._get("METHODS", defaults.METHODS))

    @property
    def REQUIRED_HEADERS(self) -> tuple[str, ...]:
        return normalise_headers(self._get("REQUIRED_HEADERS", defaults.REQUIRED_HEADERS))

    @property
    def ALLOW_WILDCARD(self) -> bool:
        return bool(self._get("ALLOW_WILDCARD", defaults.ALLOW_WILDCARD))

    @property
    def WEAK_IF_MATCH(self) -> bool:
        return bool(self._get("WEAK_IF_MATCH", defaults.WEAK_IF_MATCH))

    @property
    def ERROR_FORMAT(self) -> Any:
        return self._get("ERROR_FORMAT", defaults.ERROR_FORMAT)

    @property
    def INCLUDE_CURRENT_ETAG(self) -> bool:
        return bool(self._get("INCLUDE_CURRENT_ETAG", defaults.INCLUDE_CURRENT_ETAG))

    @property
    def DOCUMENTATION_URL(self) -> str | None:
        value = self._get("DOCUMENTATION_URL", defaults.DOCUMENTATION_URL)
        return str(value) if value else None

    @property
    def MODE(self) -> str:
        return str(self._get("MODE", defaults.MODE))

    @property
    def JSON_DETAILED_HEADERS(self) -> bool:
        return bool(self._get("JSON_DETAILED_HEADERS", defaults.JSON_DETAILED_HEADERS))

    @property
    def RULES_REFRESH_INTERVAL(self) -> float:
        return float(self._get("RULES_REFRESH_INTERVAL", defaults.RULES_REFRESH_INTERVAL))

    @property
    def VIEWS(self) -> Mapping[str, Mapping[str, Any]]:
        value = self._get("VIEWS", defaults.VIEWS)
        return value if isinstance(value, Mapping) else {}


def split_comma_list(value: Any) -> tuple[str, ...]:
    """The items of a comma-separated value as stored by admin rules (``"PUT, PATCH"``),
    stripped, empty ones dropped; a list or tuple is taken as it is (``None``: none)."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return tuple(value or ())


def normalise_headers(names: Any) -> tuple[str, ...]:
    """Canonical spelling of accepted header names (``if-match`` → ``If-Match``)."""
    canonical = {name.lower(): name for name in defaults.ACCEPTABLE_HEADERS}
    return tuple(canonical.get(str(name).lower(), str(name)) for name in names)


conf = Settings()
