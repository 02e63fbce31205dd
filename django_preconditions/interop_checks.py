"""System checks for the packages preconditions have to cooperate with.

W002 (CONFORMANCE rule 48): browsers hide response headers that CORS does not expose and
refuse request headers that the preflight does not allow. django-cors-headers' defaults
include neither ``ETag`` nor ``If-Match``, so a cross-origin front end could read no ETag and
send no precondition — every write would get 428.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register
from django.utils.translation import gettext

from .conditions import IF_MATCH, IF_NONE_MATCH, IF_UNMODIFIED_SINCE
from .headers import ETAG, LAST_MODIFIED

__all__ = ["check_cors_headers"]

#: Response headers a client must be able to read.
EXPOSED: Final = (ETAG, LAST_MODIFIED)
#: Request headers a client must be allowed to send.
ALLOWED: Final = (IF_MATCH, IF_NONE_MATCH, IF_UNMODIFIED_SINCE)
#: django-cors-headers' ``corsheaders.defaults.default_headers``, used when the project does
#: not set ``CORS_ALLOW_HEADERS`` (read from there when it is importable).
_CORS_DEFAULT_ALLOW_HEADERS: Final = (
    "accept",
    "authorization",
    "content-type",
    "user-agent",
    "x-csrftoken",
    "x-requested-with",
)


def _cors_installed() -> bool:
    return any(
        app == "corsheaders" or app.startswith("corsheaders.")
        for app in getattr(settings, "INSTALLED_APPS", ())
    )


def _names(value: Any) -> set[str] | None:
    """Lower-cased header names of a setting, or ``None`` when it is not a list of names
    (django-cors-headers' own checks report that)."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        return None
    return {str(item).strip().lower() for item in value}


def _default_allow_headers() -> tuple[str, ...]:
    try:
        from corsheaders.defaults import default_headers  # type: ignore[import-not-found]
    except ImportError:
        return _CORS_DEFAULT_ALLOW_HEADERS
    return tuple(default_headers)


@register(Tags.compatibility, Tags.security)
def check_cors_headers(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """W002: django-cors-headers is installed but hides ``ETag``/``Last-Modified`` or refuses
    the conditional request headers."""
    if not _cors_installed():
        return []
    exposed = _names(getattr(settings, "CORS_EXPOSE_HEADERS", ()))
    allowed = _names(getattr(settings, "CORS_ALLOW_HEADERS", _default_allow_headers()))
    missing_exposed = (
        []
        if exposed is None or "*" in exposed
        else [h for h in EXPOSED if h.lower() not in exposed]
    )
    missing_allowed = (
        []
        if allowed is None or "*" in allowed
        else [h for h in ALLOWED if h.lower() not in allowed]
    )
    if not missing_exposed and not missing_allowed:
        return []
    problems: list[str] = []
    lines: list[str] = []
    if missing_exposed:
        problems.append(
            gettext(
                "CORS_EXPOSE_HEADERS does not include %(headers)s, so browsers hide them from "
                "cross-origin scripts"
            )
            % {"headers": ", ".join(missing_exposed)}
        )
        current = [str(name) for name in getattr(settings, "CORS_EXPOSE_HEADERS", ())]
        lines.append(f"CORS_EXPOSE_HEADERS = {[*current, *missing_exposed]!r}")
    if missing_allowed:
        problems.append(
            gettext(
                "CORS_ALLOW_HEADERS does not include %(headers)s, so browsers refuse to send "
                "them cross-origin"
            )
            % {"headers": ", ".join(missing_allowed)}
        )
        extra = [name.lower() for name in missing_allowed]
        if hasattr(settings, "CORS_ALLOW_HEADERS"):
            current = [str(name) for name in getattr(settings, "CORS_ALLOW_HEADERS", ())]
            lines.append(f"CORS_ALLOW_HEADERS = {[*current, *extra]!r}")
        else:
            lines.append("from corsheaders.defaults import default_headers")
            lines.append(f"CORS_ALLOW_HEADERS = (*default_headers, {', '.join(map(repr, extra))})")
    return [
        Warning(
            gettext(
                "django-cors-headers is installed, but %(problems)s. Cross-origin clients could "
                "not read the ETag they must send back, or could not send If-Match, and every "
                "protected write would fail with 428."
            )
            % {"problems": gettext("; and ").join(problems)},
            hint=gettext("Add to your settings:") + "\n" + "\n".join(lines),
            id="preconditions.W002",
        )
    ]
