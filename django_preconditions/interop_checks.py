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
    found: list[tuple[str, list[str]]] = []  # (problem, settings lines that fix it)
    if missing := _missing(EXPOSED, exposed):
        found.append(_expose_fix(missing))
    if missing := _missing(ALLOWED, allowed):
        found.append(_allow_fix(missing))
    if not found:
        return []
    return [
        Warning(
            gettext(
                "django-cors-headers is installed, but %(problems)s. Cross-origin clients could "
                "not read the ETag they must send back, or could not send If-Match, and every "
                "protected write would fail with 428."
            )
            % {"problems": gettext("; and ").join(problem for problem, _lines in found)},
            hint=gettext("Add to your settings:")
            + "\n"
            + "\n".join(line for _problem, lines in found for line in lines),
            id="preconditions.W002",
        )
    ]


def _missing(wanted: Iterable[str], present: set[str] | None) -> list[str]:
    """The ``wanted`` headers a CORS setting lacks (none when it allows any: ``"*"`` — but
    not with ``CORS_ALLOW_CREDENTIALS``, where browsers read ``*`` as a header name)."""
    if present is None:
        return []
    if "*" in present and not getattr(settings, "CORS_ALLOW_CREDENTIALS", False):
        return []
    return [name for name in wanted if name.lower() not in present]


def _expose_fix(missing: list[str]) -> tuple[str, list[str]]:
    """The problem with ``CORS_EXPOSE_HEADERS``, and the settings lines that fix it."""
    problem = gettext(
        "CORS_EXPOSE_HEADERS does not include %(headers)s, so browsers hide them from "
        "cross-origin scripts"
    ) % {"headers": ", ".join(missing)}
    current = [str(name) for name in getattr(settings, "CORS_EXPOSE_HEADERS", ())]
    return problem, [f"CORS_EXPOSE_HEADERS = {[*current, *missing]!r}"]


def _allow_fix(missing: list[str]) -> tuple[str, list[str]]:
    """The problem with ``CORS_ALLOW_HEADERS``, and the settings lines that fix it."""
    problem = gettext(
        "CORS_ALLOW_HEADERS does not include %(headers)s, so browsers refuse to send "
        "them cross-origin"
    ) % {"headers": ", ".join(missing)}
    extra = [name.lower() for name in missing]
    if hasattr(settings, "CORS_ALLOW_HEADERS"):
        current = [str(name) for name in getattr(settings, "CORS_ALLOW_HEADERS", ())]
        return problem, [f"CORS_ALLOW_HEADERS = {[*current, *extra]!r}"]
    return problem, [
        "from corsheaders.defaults import default_headers",
        f"CORS_ALLOW_HEADERS = (*default_headers, {', '.join(map(repr, extra))})",
    ]
