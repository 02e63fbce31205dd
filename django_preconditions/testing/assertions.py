"""One-call proofs for a test suite: an endpoint's whole contract, and the audit as a test.

Both raise ``AssertionError`` with a message that names the step that failed and what came
back, so they read the same under pytest and ``unittest``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.test.client import encode_multipart
from django.utils.http import urlencode

from ..conditions import IF_MATCH, IF_NONE_MATCH
from ..conf import conf
from ..formats import ERROR_FORMATS
from ..headers import CACHE_CONTROL, CONTENT_TYPE, ETAG, LAST_MODIFIED, meta_key
from .clients import PreconditionsClientMixin

__all__ = ["STALE_ETAG", "assert_all_protected", "assert_protected"]

#: The ``If-Match`` value that proves a stale copy is refused (no server makes this tag).
STALE_ETAG: Final = '"django-preconditions-stale-copy"'

#: Body members a 428 carries in each built-in error format (CONFORMANCE rule 34).
BODY_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    name: fmt.members for name, fmt in ERROR_FORMATS.items()
}
_BODY_EXCERPT: Final = 600


@dataclass
class _Proof:
    """The steps of one :func:`assert_protected` call, for its failure message."""

    client: Any
    method: str
    url: str
    extra: dict[str, str]
    passed: list[str] = field(default_factory=list)
    total: int = 5

    def call(
        self,
        method: str,
        url: str,
        body: Any = "",
        content_type: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        """``headers`` (by name) on top of the caller's, exactly as given."""
        kwargs: dict[str, Any] = {**self.extra, **_as_extra(headers)}
        if isinstance(self.client, PreconditionsClientMixin):
            kwargs["preconditions"] = False  # the proof sends exactly the headers it names
        if content_type:
            response: HttpResponse = self.client.generic(method, url, body, content_type, **kwargs)
        else:
            response = self.client.generic(method, url, **kwargs)
        return response

    def fail(self, step: str, problem: str, response: HttpResponse | None) -> None:
        lines = [
            f"assert_protected({self.method} {self.url}) failed at step "
            f"{len(self.passed) + 1} of {self.total}: {step}.",
            f"  {problem}",
        ]
        if response is not None:
            lines.append(f"  Response: {_describe(response)}")
        if self.passed:
            lines.append("  Steps that passed: " + "; ".join(self.passed) + ".")
        raise AssertionError("\n".join(lines))

    def expect(self, step: str, response: HttpResponse, statuses: Iterable[int]) -> None:
        allowed = tuple(statuses)
        if response.status_code not in allowed:
            wanted = (
                f"{allowed[0]} to {allowed[-1]}"
                if len(allowed) > 2
                else " or ".join(map(str, allowed))
            )
            self.fail(step, f"Expected status {wanted}, got {response.status_code}.", response)


def _as_extra(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Headers by name as the test clients' ``**extra`` (``request.META``) keys."""
    return {meta_key(name): value for name, value in (headers or {}).items()}


def _describe(response: HttpResponse) -> str:
    headers = ", ".join(
        f"{name}: {response.headers[name]}"
        for name in (CONTENT_TYPE, ETAG, LAST_MODIFIED, CACHE_CONTROL)
        if response.has_header(name)
    )
    body = b"" if getattr(response, "streaming", False) else response.content
    text = body.decode("utf-8", "replace")
    if len(text) > _BODY_EXCERPT:
        text = text[:_BODY_EXCERPT] + "…"
    return f"{response.status_code} ({headers or 'no validator headers'}) body: {text or '(empty)'}"


def _state(response: HttpResponse) -> tuple[str | None, bytes]:
    return response.headers.get(ETAG), response.content


def _encode(data: Any, content_type: str) -> Any:
    """The request body for ``data``: JSON, a form (urlencoded or multipart, as a browser
    sends it), or ``data`` itself when it is already text or bytes."""
    if data is None:
        return ""
    if isinstance(data, (str, bytes)):
        return data
    if "json" in content_type:
        return json.dumps(data, cls=DjangoJSONEncoder)
    if isinstance(data, Mapping):
        if content_type.startswith("application/x-www-form-urlencoded"):
            return urlencode(data, doseq=True)
        if content_type.startswith("multipart/form-data") and "boundary=" in content_type:
            return encode_multipart(content_type.split("boundary=", 1)[1], dict(data))
    return data


def assert_protected(
    client: Any,
    url: str,
    method: str = "PUT",
    data: Any = None,
    *,
    content_type: str = "application/json",
    headers: Mapping[str, str] | None = None,
    error_format: str | None = None,
    read_url: str | None = None,
    expect_new_etag: bool | None = None,
) -> HttpResponse:
    """Prove that ``method`` on ``url`` is protected, in five steps:

    1. GET ``read_url`` (default ``url``) answers 200 with an ``ETag``;
    2. a conditional GET with that ``ETag`` in ``If-None-Match`` answers 304 (rule 28);
    3. ``method`` without a precondition answers 428 with ``Cache-Control: no-store`` and the
       body members of ``error_format`` (default: ``PRECONDITIONS["ERROR_FORMAT"]``), and
       nothing changed (rules 29, 33, 34);
    4. ``method`` with a stale ``If-Match`` answers 412, and nothing changed (rule 19);
    5. ``method`` with the current ``ETag`` in ``If-Match`` answers 2xx with a new ``ETag``
       (not expected after DELETE; ``expect_new_etag`` decides otherwise) (rule 19).

    ``data`` is the request body (a dict is sent as JSON); ``headers`` are added to every
    request (e.g. ``{"Authorization": "Token …"}``). ``client`` is any Django or DRF test
    client. Returns the 2xx response of step 5; raises ``AssertionError`` naming the step
    that failed and what came back.
    """
    method = method.upper()
    proof = _Proof(client, method, url, _as_extra(headers))
    read = read_url or url
    body = _encode(data, content_type)
    fmt = error_format if error_format is not None else conf.ERROR_FORMAT
    new_etag = expect_new_etag if expect_new_etag is not None else method != "DELETE"

    before, etag = _read_steps(proof, read)
    _refusal_steps(proof, read, before, body, content_type, fmt)
    step = f"{method} with the current If-Match: {etag} succeeds"
    if new_etag:
        step += " with a new ETag"
    done = proof.call(method, url, body, content_type, {IF_MATCH: etag})
    proof.expect(step, done, range(200, 300))
    if new_etag and done.headers.get(ETAG) in (None, etag):
        proof.fail(step, "The 2xx response has no new ETag.", done)
    return done


def _read_steps(proof: _Proof, read: str) -> tuple[HttpResponse, str]:
    """Steps 1 and 2: the GET with an ETag, and the conditional GET's 304."""
    step = "GET answers 200 with an ETag"
    before = proof.call("GET", read)
    proof.expect(step, before, (200,))
    etag = before.headers.get(ETAG)
    if not etag:
        proof.fail(step, "The response has no ETag header.", before)
    proof.passed.append(f"GET → 200 ETag {etag}")

    step = f"GET with If-None-Match: {etag} answers 304 Not Modified"
    proof.expect(step, proof.call("GET", read, headers={IF_NONE_MATCH: str(etag)}), (304,))
    proof.passed.append("conditional GET → 304")
    return before, str(etag)


def _refusal_steps(
    proof: _Proof, read: str, before: HttpResponse, body: Any, content_type: str, fmt: Any
) -> None:
    """Steps 3 and 4: 428 without a precondition, 412 with a stale one; nothing changed."""
    method, url = proof.method, proof.url
    step = f"{method} without a precondition answers 428 Precondition Required, nothing changed"
    refused = proof.call(method, url, body, content_type)
    proof.expect(step, refused, (428,))
    if "no-store" not in refused.headers.get(CACHE_CONTROL, ""):
        proof.fail(step, "The 428 lacks Cache-Control: no-store (rule 33).", refused)
    _check_body(proof, step, refused, fmt)
    _unchanged(proof, step, read, before)
    proof.passed.append(f"{method} without precondition → 428")

    step = f"{method} with a stale If-Match answers 412 Precondition Failed, nothing changed"
    stale = proof.call(method, url, body, content_type, {IF_MATCH: STALE_ETAG})
    proof.expect(step, stale, (412,))
    _unchanged(proof, step, read, before)
    proof.passed.append(f"{method} with stale If-Match → 412")


def _check_body(proof: _Proof, step: str, response: HttpResponse, fmt: Any) -> None:
    wanted = BODY_FIELDS.get(fmt) if isinstance(fmt, str) else None
    if wanted is None:
        return  # a custom format: only its author knows its members
    try:
        payload = json.loads(response.content)
    except ValueError:
        proof.fail(step, f"The 428 body is not JSON (error format {fmt!r}).", response)
    missing = [name for name in wanted if not isinstance(payload, dict) or name not in payload]
    if missing:
        proof.fail(
            step,
            f"The 428 body lacks {', '.join(missing)} of the {fmt!r} error format (rule 34); "
            "pass error_format= when the view uses another format than the settings.",
            response,
        )


def _unchanged(proof: _Proof, step: str, read: str, before: HttpResponse) -> None:
    after = proof.call("GET", read)
    if _state(after) != _state(before):
        proof.fail(
            step,
            f"The refused request changed the resource: GET before gave ETag "
            f"{before.headers.get(ETAG)}, after gives {after.headers.get(ETAG)} "
            "(or another body).",
            after,
        )


def assert_all_protected(
    urlconf: str | None = None, *, allow: Iterable[str] = (), include_admin: bool = False
) -> None:
    """Fail when a URL pattern accepts unsafe methods and nothing requires preconditions on
    it (``manage.py preconditions_audit --fail-on-unprotected`` as a test). ``allow`` lists
    routes, URL names or view paths that are unprotected on purpose (e.g. a login view)."""
    from ..audit import build_report  # the audit imports the whole URLconf: only when asked

    allowed = set(allow)
    unprotected = [
        row
        for row in build_report(urlconf, include_admin=include_admin)
        if row.unprotected and not allowed.intersection({row.route, row.name, row.view})
    ]
    if unprotected:
        listed = "\n".join(
            f"  {row.route} ({row.name or row.view}): {', '.join(row.methods)}"
            for row in unprotected
        )
        raise AssertionError(
            f"{len(unprotected)} URL pattern(s) accept unsafe methods without requiring "
            f"preconditions:\n{listed}\nProtect each with require_preconditions, "
            "PreconditionRequiredMixin, the DRF PreconditionMixin, a PRECONDITIONS['VIEWS'] "
            "entry or an admin rule, or name it in allow=[...] if it is unprotected on purpose."
        )
