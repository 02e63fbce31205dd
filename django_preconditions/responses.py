"""Error responses for 400 (malformed header), 404, 412 and 428, in the configured format.

:func:`describe` turns a decision into a :class:`PreconditionError` (the facts, in words a
client developer can act on); :func:`render` writes it in one of the formats of CONFORMANCE
rule 34. The DRF adapter reuses :func:`describe` and raises the same facts as an
``APIException`` so a project's exception handler sees them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.template.response import SimpleTemplateResponse
from django.utils import translation
from django.utils.http import http_date
from django.utils.module_loading import import_string
from django.utils.translation import gettext, gettext_lazy

from . import signals
from ._compat import log_response
from .conditions import (
    IF_MATCH,
    IF_NONE_MATCH,
    IF_UNMODIFIED_SINCE,
    Decision,
    Outcome,
    Reason,
    refused_create_only,
    undated_headers,
)
from .defaults import ERROR_FORMAT as DEFAULT_ERROR_FORMAT
from .formats import JSON_CONTENT_TYPE, PROBLEM_CONTENT_TYPE, built_in
from .headers import CACHE_CONTROL, ETAG, IF_MATCH_FORM, LAST_MODIFIED, LINK, RETRY_AFTER
from .policy import Policy
from .transactions import Aftermath

logger = logging.getLogger("django_preconditions")

__all__ = [
    "JSON_CONTENT_TYPE",
    "PROBLEM_CONTENT_TYPE",
    "PreconditionError",
    "announce",
    "describe",
    "error_response",
    "not_found_error",
    "render",
    "retry_later_error",
]


def gettext_noop(message: str) -> str:
    """Mark ``message`` for makemessages and return it untranslated, as Django's does; this
    one can run at import time (Django's reads ``USE_I18N`` from the settings)."""
    return message


_TYPE_PREFIX: Final = "tag:django-preconditions,2026:"
#: Title and code of each refusal :func:`describe` writes (the ``title`` is translated, the
#: ``code`` never is).
_TITLES: Final = {
    Outcome.MALFORMED: gettext_noop("Malformed precondition header"),
    Outcome.PRECONDITION_FAILED: gettext_noop("Precondition Failed"),
    Outcome.PRECONDITION_REQUIRED: gettext_noop("Precondition Required"),
}
_CODES: Final = {
    Outcome.MALFORMED: "malformed_precondition",
    Outcome.PRECONDITION_FAILED: "precondition_failed",
    Outcome.PRECONDITION_REQUIRED: "precondition_required",
}
_NOT_FOUND_TITLE: Final = gettext_lazy("Not Found")
_NOT_FOUND_CODE: Final = "not_found"
#: What each accepted header must carry, for the detailed guidance body.
_HEADER_DESCRIPTIONS: Final = {
    IF_MATCH: gettext_noop("the ETag from your last GET"),
    IF_UNMODIFIED_SINCE: gettext_noop("the Last-Modified from your last GET"),
}

#: The error texts already translated, by (language, message): only this module's constant
#: messages, never text that came with a request.
_translated: dict[tuple[str | None, str], str] = {}
_TRANSLATED_LIMIT: Final = 2048
#: Settings that change which catalogs Django translates with.
_TRANSLATION_SETTINGS: Final = frozenset(
    {"INSTALLED_APPS", "LANGUAGE_CODE", "LANGUAGES", "LOCALE_PATHS", "USE_I18N"}
)


class _Texts:
    """This module's messages in the language active when a refusal is described.

    Django's ``gettext`` finds the active translation again on every call (about 3 µs; a
    refusal has up to ten texts): the language is read once here, and each message's
    translation into it is remembered."""

    __slots__ = ("language",)

    def __init__(self) -> None:
        self.language = translation.get_language()

    def __call__(self, message: str) -> str:
        key = (self.language, message)
        text = _translated.get(key)
        if text is None:
            text = gettext(message)
            if len(_translated) < _TRANSLATED_LIMIT:
                _translated[key] = text
        return text


@receiver(setting_changed)
def _forget_translations(*, setting: str, **kwargs: Any) -> None:
    if setting in _TRANSLATION_SETTINGS:
        _translated.clear()


@dataclass(frozen=True)
class PreconditionError:
    """What went wrong and what the client must do next, independent of the body format."""

    status: int
    code: str
    title: str
    detail: str
    instance: str
    reason: str
    documentation: str | None = None
    header: str | None = None
    required_headers: tuple[str, ...] = ()
    #: ``required_headers`` as objects (name, description, example, obtain_from) when the
    #: policy asks for the detailed guidance body (``JSON_DETAILED_HEADERS``).
    required_header_details: tuple[dict[str, str], ...] = ()
    current_etag: str | None = None
    last_modified: str | None = None
    example: str | None = None
    steps: tuple[str, ...] = ()
    received: str | None = None
    expected: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def type(self) -> str:
        """The problem type URI (RFC 9457 §3.1.1): distinct for each status."""
        slug = self.code.replace("_", "-")
        if self.documentation:
            return f"{self.documentation}#{slug}"
        return f"{_TYPE_PREFIX}{slug}"

    def as_problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": self.instance,
            "code": self.code,
            "reason": self.reason,
        }
        body.update(self._extensions())
        return body

    def as_guidance(self) -> dict[str, Any]:
        return {
            "error": self.code,
            "message": self.detail,
            "required_headers": list(self.required_header_details) or list(self.required_headers),
            "current_etag": self.current_etag,
            "example": self.example,
            "steps": list(self.steps),
            "documentation": self.documentation,
        }

    def as_drf(self) -> dict[str, Any]:
        return {"detail": self.detail, "code": self.code}

    def _extensions(self) -> dict[str, Any]:
        optional = {
            "header": self.header,
            "required_headers": list(self.required_headers) or None,
            "current_etag": self.current_etag,
            "last_modified": self.last_modified,
            "example": self.example,
            "steps": list(self.steps) or None,
            "received": self.received,
            "expected": self.expected,
            "documentation": self.documentation,
        }
        return {key: value for key, value in optional.items() if value is not None}


def _shown(value: str, limit: int = 200) -> str:
    return value if len(value) <= limit else value[:limit] + "…"


def _either(names: tuple[str, ...], gettext: _Texts) -> str:
    """``If-Match or If-Unmodified-Since``, in the active language."""
    if not names:
        return IF_MATCH
    joined = names[0]
    for name in names[1:]:
        joined = gettext("%(first)s or %(second)s") % {"first": joined, "second": name}
    return joined


def _header_details(
    request: HttpRequest, accepted: tuple[str, ...], etag: str, date: str, gettext: _Texts
) -> tuple[dict[str, str], ...]:
    """The detailed ``required_headers`` of the guidance body: what to send, and where to
    read it."""
    examples = {IF_MATCH: etag, IF_UNMODIFIED_SINCE: date}
    obtain_from = request.build_absolute_uri(request.path)
    return tuple(
        {
            "name": name,
            "description": gettext(_HEADER_DESCRIPTIONS[name])
            if name in _HEADER_DESCRIPTIONS
            else "",
            "example": f"{name}: {examples.get(name, '')}",
            "obtain_from": obtain_from,
        }
        for name in accepted
    )


@dataclass(frozen=True)
class _Facts:
    """What the description of every refusal starts from."""

    common: dict[str, Any]  # the PreconditionError fields every outcome has
    path: str
    body_etag: str | None  # the current ETag, when the body may show it
    example_tag: str  # that ETag, or a placeholder
    reason_text: str
    last_modified_text: str | None  # the current Last-Modified, when it may be shown
    show_etag: bool  # the caller may read the resource (rules 13, 37)
    text: _Texts  # this module's messages in the active language


def _facts(
    decision: Decision,
    request: HttpRequest,
    policy: Policy,
    current_etag: str | None,
    last_modified: int | None,
    readable: bool,
) -> _Facts:
    outcome = decision.outcome
    # Named like Django's function, so that makemessages finds the messages it translates.
    gettext = _Texts()
    path = request.get_full_path()
    show_etag = readable and current_etag is not None
    body_etag = current_etag if show_etag and policy.include_current_etag else None
    last_modified_text = http_date(last_modified) if readable and last_modified else None
    headers: dict[str, str] = {CACHE_CONTROL: "no-store"}
    if outcome is Outcome.PRECONDITION_FAILED and show_etag:
        assert current_etag is not None
        headers[ETAG] = current_etag
        if last_modified_text:
            headers[LAST_MODIFIED] = last_modified_text
    refused = outcome in (Outcome.PRECONDITION_FAILED, Outcome.PRECONDITION_REQUIRED)
    if refused and policy.documentation_url:
        headers[LINK] = f'<{policy.documentation_url}>; rel="help"'
    placeholder = gettext("<the ETag from your last GET>")
    common: dict[str, Any] = {
        "status": outcome.status,
        "code": _CODES[outcome],
        "title": gettext(_TITLES[outcome]),
        "instance": path,
        "reason": str(decision.reason),
        "documentation": policy.documentation_url,
        "headers": headers,
    }
    return _Facts(
        common=common,
        path=path,
        body_etag=body_etag,
        example_tag=body_etag or f'"{placeholder}"',
        # A malformed header's problem quotes what the client sent: translated, not kept.
        reason_text=(
            (translation.gettext if outcome is Outcome.MALFORMED else gettext)(decision.detail)
            if decision.detail
            else ""
        ),
        last_modified_text=last_modified_text,
        show_etag=show_etag,
        text=gettext,
    )


def describe(
    decision: Decision,
    request: HttpRequest,
    policy: Policy,
    *,
    current_etag: str | None = None,
    last_modified: int | None = None,
    readable: bool = True,
) -> PreconditionError:
    """The error for a refused decision (400, 412 or 428).

    ``readable`` says whether the caller may read the resource: only then do the current
    ``ETag``/``Last-Modified`` appear, in headers and body (rules 13 and 37). Texts are in the
    active language (``LocaleMiddleware``); codes, reasons, header names and ``type`` are not
    translated.
    """
    facts = _facts(decision, request, policy, current_etag, last_modified, readable)
    if decision.outcome is Outcome.MALFORMED:
        return _describe_malformed(decision, facts)
    if decision.outcome is Outcome.PRECONDITION_REQUIRED:
        return _describe_required(decision, request, policy, facts)
    return _describe_failed(decision, request, facts)


def _describe_malformed(decision: Decision, facts: _Facts) -> PreconditionError:
    """400: a conditional header that could not be parsed (rule 5)."""
    assert decision.malformed is not None
    header = decision.malformed.header
    gettext = facts.text
    expected = gettext(IF_MATCH_FORM)
    return PreconditionError(
        **facts.common,
        detail=gettext(
            "The %(header)s header could not be parsed: %(problem)s. It was not ignored, "
            "because ignoring it would turn a conditional request into an unconditional "
            "one. Send %(expected)s."
        )
        % {"header": header, "problem": decision.malformed.problem, "expected": expected},
        header=header,
        received=_shown(decision.malformed.value),
        expected=expected,
        example=_malformed_example(header, decision.method, facts.example_tag),
    )


def _malformed_example(header: str, method: str, tag: str) -> str:
    """What to send instead of a header that does not parse. ``If-None-Match`` with the
    current tag asks "only if it changed": right on GET/HEAD, a sure 412 on a write, where
    the header's use is create-only, ``*`` (rules 26, 31)."""
    if header.lower() == IF_NONE_MATCH.lower() and method not in ("GET", "HEAD"):
        return f"{IF_NONE_MATCH}: *"
    return f"{header}: {tag}"


def _required_lead(decision: Decision, facts: _Facts, accepted: tuple[str, ...]) -> str:
    reason_text = facts.reason_text
    gettext = facts.text
    if decision.reason is Reason.WILDCARD_NOT_ACCEPTED:
        return gettext("%(method)s %(path)s was sent with If-Match: *. %(reason)s.") % {
            "method": decision.method,
            "path": facts.path,
            "reason": f"{reason_text[:1].upper()}{reason_text[1:]}",
        }
    return gettext(
        "%(method)s %(path)s must be conditional, so that it cannot overwrite a change "
        "you have not seen, but %(reason)s. Send %(headers)s."
    ) % {
        "method": decision.method,
        "path": facts.path,
        "reason": reason_text,
        "headers": _either(accepted, facts.text),
    }


def _accepted_headers(decision: Decision, policy: Policy) -> tuple[str, ...]:
    """The headers the 428 asks for, in the policy's order: those of the requirement the core
    applied (for a resource without a modification time, ``If-Match`` instead of the date:
    rule 25)."""
    accepted = policy.required_headers
    requirement = decision.requirement
    if requirement is None or requirement.accepted_headers == frozenset(accepted):
        return accepted
    return undated_headers(accepted)


def _describe_required(
    decision: Decision, request: HttpRequest, policy: Policy, facts: _Facts
) -> PreconditionError:
    """428: what to send, and how to get it (rules 29-31)."""
    accepted = _accepted_headers(decision, policy)
    first_header = accepted[0] if accepted else IF_MATCH
    gettext = facts.text
    date_placeholder = gettext("<the Last-Modified from your last GET>")
    shown_date = facts.last_modified_text if policy.include_current_etag else None
    if first_header == IF_UNMODIFIED_SINCE:
        example = f"{IF_UNMODIFIED_SINCE}: {date_placeholder}"
        fetch = gettext("GET %(path)s and keep its Last-Modified response header")
    else:
        example = f"{IF_MATCH}: {facts.example_tag}"
        fetch = gettext("GET %(path)s and keep its ETag response header")
    registered = built_in(policy.error_format)
    detailed = registered is not None and registered.detailed(policy.json_detailed_headers)
    details = (
        _header_details(
            request, accepted, facts.example_tag, shown_date or date_placeholder, gettext
        )
        if detailed
        else ()
    )
    return PreconditionError(
        **facts.common,
        detail=_required_lead(decision, facts, accepted),
        required_headers=tuple(accepted),
        required_header_details=details,
        current_etag=facts.body_etag,
        example=example,
        steps=(
            fetch % {"path": request.path},
            gettext("Send the %(method)s again with %(header)s set to that value")
            % {"method": decision.method, "header": example.split(":", 1)[0]},
            gettext(
                "If the answer is 412 Precondition Failed, someone changed the resource in "
                "the meantime: GET it again, re-apply your change, and retry"
            ),
        ),
    )


def _failed_texts(
    decision: Decision, values: dict[str, str], gettext: _Texts
) -> tuple[str, tuple[str, ...]]:
    """The detail and the steps of a 412."""
    if decision.header == IF_NONE_MATCH:
        detail = (
            gettext(
                "%(method)s %(path)s was not applied: %(reason)s. If-None-Match: * asks to "
                "create the resource only if it does not exist yet."
            )
            if refused_create_only(decision)
            else gettext("%(method)s %(path)s was not applied: %(reason)s.")
        ) % values
        return detail, (
            gettext("GET %(url)s to see the current version and its ETag") % values,
            gettext(
                "To change it, send the %(method)s with If-Match: <that ETag> instead of "
                "If-None-Match"
            )
            % values,
        )
    detail = (
        gettext(
            "%(method)s %(path)s was not applied: %(reason)s. Someone changed the resource "
            "after you read it; re-read it, re-apply your change and retry."
        )
        % values
    )
    return detail, (
        gettext("GET %(url)s again to read the current version and its ETag") % values,
        gettext("Re-apply your change to that version (merge it, or ask the user)"),
        gettext(
            "Retry the %(method)s with If-Match: <the new ETag>. Do not resend the old "
            "request unchanged: it would fail again, and must not overwrite the other change"
        )
        % values,
    )


def _describe_failed(decision: Decision, request: HttpRequest, facts: _Facts) -> PreconditionError:
    """412: the resource changed (or exists); the current version when it may be shown."""
    values = {
        "method": decision.method,
        "path": facts.path,
        "reason": facts.reason_text,
        "url": request.path,
    }
    detail, steps = _failed_texts(decision, values, facts.text)
    last_modified_text = facts.last_modified_text
    return PreconditionError(
        **facts.common,
        detail=detail,
        header=decision.header,
        current_etag=facts.body_etag,
        last_modified=last_modified_text if facts.show_etag or last_modified_text else None,
        example=f"{IF_MATCH}: {facts.body_etag}" if facts.body_etag else None,
        steps=steps,
    )


def not_found_error(request: HttpRequest, policy: Policy) -> PreconditionError:
    """404 for an absent resource, in the same format as the other errors (rule 12)."""
    return PreconditionError(
        status=404,
        code=_NOT_FOUND_CODE,
        title=str(_NOT_FOUND_TITLE),
        detail=gettext("%(path)s does not exist (or you may not see it).") % {"path": request.path},
        instance=request.get_full_path(),
        reason="not_found",
        documentation=policy.documentation_url,
    )


RETRY_AFTER_SECONDS: Final = 1


def retry_later_error(
    request: HttpRequest, policy: Policy, aftermath: Aftermath = Aftermath.ROLLED_BACK
) -> PreconditionError:
    """503 for a write the database refused at a statement or at COMMIT (a serialization
    failure, a deadlock, a lock timeout) while the resource itself did not change (rule 47).
    What it tells the client follows what remains of the request (``aftermath``): rolled
    back, the same request may be sent again; run without a transaction, what the view wrote
    before may stand; the row's own write stands, the client must re-read, not resend."""
    values = {
        "method": request.method or "GET",
        "path": request.get_full_path(),
        "seconds": RETRY_AFTER_SECONDS,
    }
    headers = {RETRY_AFTER: str(RETRY_AFTER_SECONDS), CACHE_CONTROL: "no-store"}
    steps: tuple[str, ...]
    if aftermath is Aftermath.ROLLED_BACK:
        detail = gettext(
            "%(method)s %(path)s was not applied: the database refused it because of a "
            "concurrent request, and everything it wrote was rolled back. Nothing changed; "
            "send the same request again in %(seconds)s second(s)."
        )
        steps = (
            gettext("Wait for the number of seconds in the Retry-After header"),
            gettext("Send the same request again, with the same precondition headers"),
        )
    elif aftermath is Aftermath.WRITES_MAY_REMAIN:
        detail = gettext(
            "%(method)s %(path)s was not applied to the resource: the database refused it "
            "because of a concurrent request. The request ran without a transaction, so "
            "changes it made before the refused one may have been kept."
        )
        steps = (
            gettext("Wait for the number of seconds in the Retry-After header"),
            gettext("Re-read the resource and check what the request already changed"),
            gettext("Send the request again only if it is still needed"),
        )
    else:
        detail = gettext(
            "%(method)s %(path)s was applied to the resource, but the request failed after "
            "that: the database refused a later change because of a concurrent request. The "
            "request ran without a transaction, so its other changes may be incomplete."
        )
        steps = (
            gettext("Re-read the resource (GET): it carries the change and a new ETag"),
            gettext("Do not send the same request again: its precondition no longer holds"),
        )
        del headers[RETRY_AFTER]
    return PreconditionError(
        status=503,
        code="database_conflict",
        title=gettext("Service Unavailable"),
        detail=detail % values,
        instance=request.get_full_path(),
        reason="database_conflict",
        documentation=policy.documentation_url,
        steps=steps,
        headers=headers,
    )


def _project_format(
    request: HttpRequest, error: PreconditionError, error_format: str | Callable[..., Any]
) -> HttpResponse | None:
    """The response of a project's error format; ``None`` when it raised, did not return an
    ``HttpResponse`` (e.g. a dotted path to DRF's ``exception_handler``, which takes other
    arguments) or returned one that cannot be rendered: logged as an error, and the refusal is
    still answered, in the default format, never with a 500."""
    try:
        response = _format_callable(error_format)(request, error)
    except Exception:
        logger.exception(
            "The PRECONDITIONS error format %r failed; the %s refusal is answered in the "
            "default format. It must be a callable taking (request, error) and returning an "
            "HttpResponse.",
            error_format,
            error.status,
        )
        return None
    if not isinstance(response, HttpResponse):
        logger.error(
            "The PRECONDITIONS error format %r returned %s, not an HttpResponse; the %s refusal "
            "is answered in the default format.",
            error_format,
            type(response).__name__,
            error.status,
        )
        return None
    checked: HttpResponse = response
    if isinstance(checked, SimpleTemplateResponse) and not checked.is_rendered:
        # A TemplateResponse, a DRF Response (rendered later, when it is returned by a view).
        if hasattr(checked, "data") and getattr(request, "accepted_renderer", None) is not None:
            return checked  # a DRF Response in a DRF view: DRF's finalize_response renders it
        try:
            # Rendered here, so that a failure is this format's mistake (a template that does
            # not exist, a DRF Response outside DRF) and not a 500 later.
            checked.render()
        except Exception:
            logger.exception(
                "The PRECONDITIONS error format %r returned a response that could not be "
                "rendered; the %s refusal is answered in the default format.",
                error_format,
                error.status,
            )
            return None
    return checked


def _format_callable(error_format: str | Callable[..., Any]) -> Callable[..., Any]:
    """A project's format: the callable, or the one its dotted path names."""
    if callable(error_format):
        return error_format
    return import_string(error_format)  # type: ignore[no-any-return]


def render(request: HttpRequest, error: PreconditionError, policy: Policy) -> HttpResponse:
    """The HTTP response for ``error`` in the policy's format (rule 34)."""
    registered = built_in(policy.error_format)
    response = (
        None if registered is not None else _project_format(request, error, policy.error_format)
    )
    if response is None:  # a built-in format, or the project's failed (logged): the default
        registered = registered or built_in(DEFAULT_ERROR_FORMAT)
        assert registered is not None
        response = HttpResponse(
            json.dumps(registered.body(error), ensure_ascii=False),
            status=error.status,
            content_type=registered.header,
        )
    for name, value in error.headers.items():
        response.headers.setdefault(name, value)
    return response


def error_response(
    request: HttpRequest,
    decision: Decision,
    policy: Policy,
    *,
    view: Any = None,
    current_etag: str | None = None,
    last_modified: int | None = None,
    readable: bool = True,
) -> HttpResponse:
    """Render a refused decision, send the matching signal and log it like Django does."""
    error = describe(
        decision,
        request,
        policy,
        current_etag=current_etag,
        last_modified=last_modified,
        readable=readable,
    )
    response = render(request, error, policy)
    announce(request, decision, response, view=view)
    return response


def announce(
    request: HttpRequest, decision: Decision, response: HttpResponse, *, view: Any = None
) -> None:
    """Send ``precondition_failed``/``precondition_required`` and log the refusal."""
    if decision.outcome is Outcome.PRECONDITION_FAILED:
        signals.precondition_failed.send(
            sender=view, request=request, view=view, reason=decision.reason, decision=decision
        )
        log_response("Precondition Failed: %s", request.path, request=request, response=response)
    elif decision.outcome is Outcome.PRECONDITION_REQUIRED:
        signals.precondition_required.send(
            sender=view, request=request, view=view, reason=decision.reason, decision=decision
        )
        log_response("Precondition Required: %s", request.path, request=request, response=response)
