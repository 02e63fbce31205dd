"""Error responses: formats and contents of 400/412/428 bodies (CONFORMANCE section I,
rules 33 to 38), the signals and the log line of every refusal.

Most tests build the decision with the real evaluation core (``evaluate``) for a request made
with ``RequestFactory`` and render it with ``describe``/``render``/``error_response``; the last
ones go over HTTP through the protected function view ``/docs/<pk>/``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.test.utils import override_settings

from django_preconditions import defaults
from django_preconditions.conditions import (
    Decision,
    Outcome,
    Reason,
    ResourceState,
    evaluate,
)
from django_preconditions.formats import ERROR_FORMATS, built_in
from django_preconditions.headers import EntityTag
from django_preconditions.policy import Policy
from django_preconditions.responses import describe, error_response, render
from django_preconditions.signals import precondition_failed, precondition_required
from tests.support.conditions import LAST_MODIFIED, LAST_MODIFIED_DATE
from tests.support.error_formats import GUIDANCE_KEYS, envelope_error
from tests.support.validators import assert_last_modified
from tests.testapp.models import Document

TOKEN = "tok-7f3a9c"
CURRENT_ETAG = f'"{TOKEN}"'
STATE = ResourceState(exists=True, etag=EntityTag(TOKEN), last_modified=LAST_MODIFIED)
DOCS = "https://example.com/api/errors/"
PATH = "/docs/1/"

FORMATS = ["problem", "json", "drf", "tests.support.error_formats.envelope_error"]
TITLES = {
    400: "Malformed precondition header",
    412: "Precondition Failed",
    428: "Precondition Required",
}
CODES = {400: "malformed_precondition", 412: "precondition_failed", 428: "precondition_required"}


def missing_precondition(rf: RequestFactory) -> HttpRequest:
    """PUT without any precondition: 428 (rule 29)."""
    return rf.put(PATH, data="{}", content_type="application/json")


def stale_if_match(rf: RequestFactory) -> HttpRequest:
    """PUT with an outdated entity-tag: 412 (rule 19)."""
    return rf.put(PATH, data="{}", content_type="application/json", headers={"If-Match": '"v1"'})


def malformed_if_match(rf: RequestFactory) -> HttpRequest:
    """PUT with an unquoted entity-tag: 400 (rule 5)."""
    return rf.put(PATH, data="{}", content_type="application/json", headers={"If-Match": "v1"})


REQUESTS = {428: missing_precondition, 412: stale_if_match, 400: malformed_if_match}


def decide(request: HttpRequest, policy: Policy) -> Decision:
    return evaluate(
        request.method or "GET",
        request.headers,
        STATE,
        policy.requirement,
        weak_if_match=policy.weak_if_match,
    )


def respond(
    rf: RequestFactory, status: int, *, readable: bool = True, **overrides: Any
) -> HttpResponse:
    """Evaluate the request for ``status``, then describe and render the refusal."""
    policy = Policy.resolve(**overrides)
    request = REQUESTS[status](rf)
    decision = decide(request, policy)
    assert decision.status == status
    error = describe(
        decision,
        request,
        policy,
        current_etag=CURRENT_ETAG,
        last_modified=LAST_MODIFIED,
        readable=readable,
    )
    return render(request, error, policy)


def body_of(response: HttpResponse) -> Any:
    return json.loads(response.content.decode("utf-8"))


def a_view(request: HttpRequest) -> HttpResponse:
    """Stands for the protected view in signal tests."""
    return HttpResponse()


# --- problem (rule 34, RFC 9457) --------------------------------------------------------------


@pytest.mark.parametrize("status", [428, 412, 400])
def test_problem_is_the_default_format_with_rfc9457_members(
    rf: RequestFactory, status: int
) -> None:
    response = respond(rf, status)
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    body = body_of(response)
    assert {"type", "title", "status", "detail", "instance"} <= body.keys()
    assert body["status"] == response.status_code
    assert body["instance"] == PATH
    assert body["title"] == TITLES[status]
    assert body["code"] == CODES[status]
    assert body["detail"].startswith("The If-Match header" if status == 400 else f"PUT {PATH}")


def test_problem_type_differs_between_412_and_428(rf: RequestFactory) -> None:
    type_412 = body_of(respond(rf, 412))["type"]
    type_428 = body_of(respond(rf, 428))["type"]
    assert type_412 != type_428
    assert type_412.endswith("precondition-failed")
    assert type_428.endswith("precondition-required")


@override_settings(PRECONDITIONS={"DOCUMENTATION_URL": DOCS})
def test_problem_type_uses_the_documentation_url_when_set(rf: RequestFactory) -> None:
    assert body_of(respond(rf, 412))["type"] == f"{DOCS}#precondition-failed"
    assert body_of(respond(rf, 428))["type"] == f"{DOCS}#precondition-required"


def test_problem_type_is_a_uri_without_documentation_url(rf: RequestFactory) -> None:
    problem_type = body_of(respond(rf, 428))["type"]
    scheme, _, rest = problem_type.partition(":")
    assert scheme == "tag"
    assert rest


# --- json, drf, callables (rule 34) -----------------------------------------------------------


@pytest.mark.parametrize("status", [428, 412, 400])
def test_json_body_has_exactly_the_guidance_keys(rf: RequestFactory, status: int) -> None:
    response = respond(rf, status, error_format="json")
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = body_of(response)
    assert set(body) == GUIDANCE_KEYS
    assert body["error"] == CODES[status]
    assert isinstance(body["steps"], list)
    assert isinstance(body["required_headers"], list)


@pytest.mark.parametrize("status", [428, 412, 400])
def test_drf_body_is_detail_and_code(rf: RequestFactory, status: int) -> None:
    response = respond(rf, status, error_format="drf")
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = body_of(response)
    assert set(body) == {"detail", "code"}
    assert body["code"] == CODES[status]
    assert body["detail"]


@pytest.mark.parametrize(
    "error_format",
    ["tests.support.error_formats.envelope_error", envelope_error],
    ids=["path", "object"],
)
def test_a_callable_error_format_renders_the_error(rf: RequestFactory, error_format: Any) -> None:
    response = respond(rf, 412, error_format=error_format)
    assert response.status_code == 412
    assert body_of(response) == {
        "ok": False,
        "error": {
            "code": "precondition_failed",
            "status": 412,
            "path": PATH,
            "message": body_of(respond(rf, 412, error_format="drf"))["detail"],
        },
    }
    # The protocol headers are added whatever the format (rules 33 and 36).
    assert response["ETag"] == CURRENT_ETAG
    assert response["Cache-Control"] == "no-store"


def test_a_callable_that_does_not_return_a_response_is_logged_and_the_default_format_answers(
    rf: RequestFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken project format must not turn every refusal into a 500 (which a client can
    trigger by sending no precondition): the refusal is answered in the default format, and
    the mistake is logged as an error naming the format."""
    with caplog.at_level("ERROR", logger="django_preconditions"):
        response = respond(rf, 428, error_format="tests.support.error_formats.not_a_response")
    assert response.status_code == 428
    assert response["Content-Type"] == "application/problem+json"
    assert body_of(response)["status"] == 428
    message = caplog.text
    assert "'tests.support.error_formats.not_a_response'" in message
    assert "returned dict, not an HttpResponse" in message


# --- 428 (rules 33 and 35) --------------------------------------------------------------------


@pytest.mark.parametrize("error_format", FORMATS)
def test_428_is_not_stored_by_caches(rf: RequestFactory, error_format: str) -> None:
    # Rule 33.
    response = respond(rf, 428, error_format=error_format)
    assert response.status_code == 428
    assert response["Cache-Control"] == "no-store"


@override_settings(PRECONDITIONS={"DOCUMENTATION_URL": DOCS})
def test_428_problem_names_headers_resource_url_example_and_documentation(
    rf: RequestFactory,
) -> None:
    # Rule 35.
    body = body_of(respond(rf, 428))
    assert body["required_headers"] == ["If-Match", "If-Unmodified-Since"]
    assert "Send If-Match or If-Unmodified-Since" in body["detail"]
    assert body["steps"][0] == f"GET {PATH} and keep its ETag response header"
    assert body["example"] == f"If-Match: {CURRENT_ETAG}"
    assert body["documentation"] == DOCS


@override_settings(PRECONDITIONS={"DOCUMENTATION_URL": DOCS, "ERROR_FORMAT": "json"})
def test_428_json_names_headers_resource_url_example_and_documentation(
    rf: RequestFactory,
) -> None:
    # Rule 35.
    body = body_of(respond(rf, 428))
    assert body["required_headers"] == ["If-Match", "If-Unmodified-Since"]
    assert body["steps"][0] == f"GET {PATH} and keep its ETag response header"
    assert body["steps"][1] == "Send the PUT again with If-Match set to that value"
    assert body["example"] == f"If-Match: {CURRENT_ETAG}"
    assert body["current_etag"] == CURRENT_ETAG
    assert body["documentation"] == DOCS


def test_428_without_documentation_url_has_no_documentation_link(rf: RequestFactory) -> None:
    assert "documentation" not in body_of(respond(rf, 428))
    assert body_of(respond(rf, 428, error_format="json"))["documentation"] is None


def test_428_example_follows_the_accepted_headers(rf: RequestFactory) -> None:
    # Rule 35, with a policy that accepts only If-Unmodified-Since.
    body = body_of(respond(rf, 428, required_headers=["if-unmodified-since"]))
    assert body["required_headers"] == ["If-Unmodified-Since"]
    assert body["example"] == "If-Unmodified-Since: <the Last-Modified from your last GET>"
    assert body["steps"][0] == f"GET {PATH} and keep its Last-Modified response header"


def test_428_for_a_wildcard_explains_why_it_is_not_accepted(rf: RequestFactory) -> None:
    # Rules 21 and 35.
    policy = Policy.resolve()
    request = rf.delete(PATH, headers={"If-Match": "*"})
    decision = decide(request, policy)
    assert decision.reason is Reason.WILDCARD_NOT_ACCEPTED
    error = describe(decision, request, policy, current_etag=CURRENT_ETAG)
    response = render(request, error, policy)
    assert response.status_code == 428
    body = body_of(response)
    assert body["detail"].startswith(f"DELETE {PATH} was sent with If-Match: *.")
    assert "does not prove which version you edited" in body["detail"]
    assert body["reason"] == "wildcard_not_accepted"


# --- 412 (rule 36) ----------------------------------------------------------------------------


@pytest.mark.parametrize("error_format", FORMATS)
def test_412_carries_the_current_etag_and_last_modified_headers(
    rf: RequestFactory, error_format: str
) -> None:
    response = respond(rf, 412, error_format=error_format)
    assert response.status_code == 412
    assert response["ETag"] == CURRENT_ETAG
    assert response["Last-Modified"] == LAST_MODIFIED_DATE


def test_412_tells_the_client_to_re_read_re_apply_and_retry(rf: RequestFactory) -> None:
    body = body_of(respond(rf, 412, error_format="json"))
    assert body["steps"] == [
        f"GET {PATH} again to read the current version and its ETag",
        "Re-apply your change to that version (merge it, or ask the user)",
        "Retry the PUT with If-Match: <the new ETag>. Do not resend the old request unchanged: "
        "it would fail again, and must not overwrite the other change",
    ]
    assert "re-read it, re-apply your change and retry" in body["message"]
    assert body["current_etag"] == CURRENT_ETAG
    assert body["example"] == f"If-Match: {CURRENT_ETAG}"


def test_412_problem_has_the_current_validators_as_extension_members(
    rf: RequestFactory,
) -> None:
    body = body_of(respond(rf, 412))
    assert body["current_etag"] == CURRENT_ETAG
    assert body["last_modified"] == LAST_MODIFIED_DATE
    assert body["header"] == "If-Match"
    assert len(body["steps"]) == 3


# --- current ETag in bodies (rules 13 and 37) -------------------------------------------------


@pytest.mark.parametrize("status", [428, 412])
def test_current_etag_is_in_the_body_by_default(rf: RequestFactory, status: int) -> None:
    assert body_of(respond(rf, status))["current_etag"] == CURRENT_ETAG
    assert body_of(respond(rf, status, error_format="json"))["current_etag"] == CURRENT_ETAG


@pytest.mark.parametrize("status", [428, 412])
@override_settings(PRECONDITIONS={"INCLUDE_CURRENT_ETAG": False})
def test_include_current_etag_false_keeps_the_etag_out_of_the_body(
    rf: RequestFactory, status: int
) -> None:
    problem = respond(rf, status)
    assert "current_etag" not in body_of(problem)
    assert TOKEN not in problem.content.decode()
    guidance = respond(rf, status, error_format="json")
    assert body_of(guidance)["current_etag"] is None
    assert TOKEN not in guidance.content.decode()


@override_settings(PRECONDITIONS={"INCLUDE_CURRENT_ETAG": False})
def test_include_current_etag_false_still_sends_the_412_etag_header(rf: RequestFactory) -> None:
    # Rule 37 is about bodies; rule 36 still puts the validators in the headers.
    response = respond(rf, 412)
    assert response["ETag"] == CURRENT_ETAG


@pytest.mark.parametrize("error_format", ["problem", "json"])
@pytest.mark.parametrize("status", [428, 412])
def test_unreadable_resource_reveals_no_etag_in_headers_or_body(
    rf: RequestFactory, status: int, error_format: str
) -> None:
    # Rule 13: a caller who may not read the resource never sees its version.
    response = respond(rf, status, readable=False, error_format=error_format)
    assert response.status_code == status
    assert not response.has_header("ETag")
    assert not response.has_header("Last-Modified")
    text = response.content.decode()
    assert TOKEN not in text
    assert LAST_MODIFIED_DATE not in text


# --- valid JSON, never HTML (rule 38) ---------------------------------------------------------


@pytest.mark.parametrize("error_format", FORMATS)
@pytest.mark.parametrize("status", [428, 412, 400])
def test_every_error_body_is_json_of_the_chosen_shape(
    rf: RequestFactory, status: int, error_format: str
) -> None:
    response = respond(rf, status, error_format=error_format)
    assert "html" not in response["Content-Type"]
    assert "json" in response["Content-Type"]
    body = body_of(response)
    expected_keys = {
        "problem": {"type", "title", "status", "detail", "instance"},
        "json": GUIDANCE_KEYS,
        "drf": {"detail", "code"},
        "tests.support.error_formats.envelope_error": {"ok", "error"},
    }[error_format]
    if error_format == "problem":
        assert expected_keys <= body.keys()
    else:
        assert set(body) == expected_keys


# --- signals and logging ----------------------------------------------------------------------


@pytest.fixture
def received() -> Iterator[dict[str, list[dict[str, Any]]]]:
    calls: dict[str, list[dict[str, Any]]] = {"failed": [], "required": []}

    def on_failed(sender: Any, **kwargs: Any) -> None:
        calls["failed"].append({"sender": sender, **kwargs})

    def on_required(sender: Any, **kwargs: Any) -> None:
        calls["required"].append({"sender": sender, **kwargs})

    precondition_failed.connect(on_failed, weak=False)
    precondition_required.connect(on_required, weak=False)
    try:
        yield calls
    finally:
        precondition_failed.disconnect(on_failed)
        precondition_required.disconnect(on_required)


def refuse(request: HttpRequest, **overrides: Any) -> HttpResponse:
    policy = Policy.resolve(**overrides)
    return error_response(
        request,
        decide(request, policy),
        policy,
        view=a_view,
        current_etag=CURRENT_ETAG,
        last_modified=LAST_MODIFIED,
    )


def test_412_sends_precondition_failed_with_request_view_and_reason(
    rf: RequestFactory, received: dict[str, list[dict[str, Any]]]
) -> None:
    request = stale_if_match(rf)
    response = refuse(request)
    assert response.status_code == 412
    assert received["required"] == []
    (call,) = received["failed"]
    assert call["sender"] is a_view
    assert call["request"] is request
    assert call["view"] is a_view
    assert call["reason"] is Reason.IF_MATCH_FAILED
    assert call["decision"].outcome is Outcome.PRECONDITION_FAILED


def test_428_sends_precondition_required_with_request_view_and_reason(
    rf: RequestFactory, received: dict[str, list[dict[str, Any]]]
) -> None:
    request = missing_precondition(rf)
    response = refuse(request)
    assert response.status_code == 428
    assert received["failed"] == []
    (call,) = received["required"]
    assert call["sender"] is a_view
    assert call["request"] is request
    assert call["view"] is a_view
    assert call["reason"] is Reason.PRECONDITION_MISSING


def test_400_sends_neither_signal(
    rf: RequestFactory, received: dict[str, list[dict[str, Any]]]
) -> None:
    assert refuse(malformed_if_match(rf)).status_code == 400
    assert received == {"failed": [], "required": []}


@pytest.mark.parametrize(
    ("make_request", "status", "message"),
    [
        (stale_if_match, 412, f"Precondition Failed: {PATH}"),
        (missing_precondition, 428, f"Precondition Required: {PATH}"),
    ],
)
def test_refusals_are_logged_on_django_request_at_warning(
    rf: RequestFactory,
    caplog: pytest.LogCaptureFixture,
    make_request: Any,
    status: int,
    message: str,
) -> None:
    request = make_request(rf)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        refuse(request)
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == message
    assert record.status_code == status  # type: ignore[attr-defined]
    assert record.request is request  # type: ignore[attr-defined]


# --- over HTTP: the protected function view /docs/<pk>/ --------------------------------------


def url_of(document: Document) -> str:
    return f"/docs/{document.pk}/"


def put(client: Client, url: str, **headers: str) -> HttpResponse:
    return client.put(
        url, data=json.dumps({"title": "mine"}), content_type="application/json", headers=headers
    )


def changed_elsewhere(document: Document) -> str:
    """Another client's write; returns the ETag the first client still holds."""
    stale = document.etag
    document.title = "theirs"
    document.save()
    return stale


@pytest.mark.parametrize(
    ("error_format", "content_type", "keys"),
    [
        ("problem", "application/problem+json", {"type", "title", "status", "detail", "instance"}),
        ("json", "application/json; charset=utf-8", GUIDANCE_KEYS),
        ("drf", "application/json; charset=utf-8", {"detail", "code"}),
        ("tests.support.error_formats.envelope_error", "application/json", {"ok", "error"}),
    ],
)
def test_http_428_in_the_configured_format(
    client: Client, document: Document, error_format: str, content_type: str, keys: set[str]
) -> None:
    with override_settings(PRECONDITIONS={"ERROR_FORMAT": error_format}):
        response = put(client, url_of(document))
    assert response.status_code == 428
    assert response["Content-Type"] == content_type
    assert response["Cache-Control"] == "no-store"  # rule 33
    body = body_of(response)
    if error_format == "problem":
        assert keys <= body.keys()
        assert body["status"] == 428
        assert body["instance"] == url_of(document)
    else:
        assert set(body) == keys
    document.refresh_from_db()
    assert document.title == "draft"


@override_settings(PRECONDITIONS={"ERROR_FORMAT": "json", "DOCUMENTATION_URL": DOCS})
def test_http_428_guides_the_client_to_the_etag(client: Client, document: Document) -> None:
    # Rule 35.
    body = body_of(put(client, url_of(document)))
    assert body["required_headers"] == ["If-Match", "If-Unmodified-Since"]
    assert body["steps"][0] == f"GET {url_of(document)} and keep its ETag response header"
    assert body["example"] == f"If-Match: {document.etag}"
    assert body["current_etag"] == document.etag
    assert body["documentation"] == DOCS


def test_http_412_carries_the_new_validators_and_the_way_forward(
    client: Client, document: Document
) -> None:
    # Rule 36.
    stale = changed_elsewhere(document)
    with override_settings(PRECONDITIONS={"ERROR_FORMAT": "json"}):
        response = put(client, url_of(document), **{"If-Match": stale})
    assert response.status_code == 412
    document.refresh_from_db()
    assert document.title == "theirs"
    assert response["ETag"] == document.etag
    assert_last_modified(response, document)
    body = body_of(response)
    assert body["current_etag"] == document.etag
    assert body["steps"][0].startswith(f"GET {url_of(document)} again")
    assert body["steps"][1].startswith("Re-apply your change")
    assert body["steps"][2].startswith("Retry the PUT with If-Match")


@override_settings(PRECONDITIONS={"INCLUDE_CURRENT_ETAG": False})
def test_http_include_current_etag_false(client: Client, document: Document) -> None:
    # Rule 37.
    response = put(client, url_of(document))
    assert response.status_code == 428
    assert document.version_token not in response.content.decode()
    stale = changed_elsewhere(document)
    response = put(client, url_of(document), **{"If-Match": stale})
    assert response.status_code == 412
    assert document.version_token not in response.content.decode()
    assert response["ETag"] == document.etag


@pytest.mark.parametrize("error_format", FORMATS)
def test_http_every_error_body_is_json(
    client: Client, document: Document, error_format: str
) -> None:
    # Rule 38: 400, 404, 412 and 428 alike.
    stale = changed_elsewhere(document)
    with override_settings(PRECONDITIONS={"ERROR_FORMAT": error_format}):
        responses = {
            400: put(client, url_of(document), **{"If-Match": "unquoted"}),
            404: put(client, "/docs/999999/", **{"If-Match": stale}),
            412: put(client, url_of(document), **{"If-Match": stale}),
            428: put(client, url_of(document)),
        }
    for status, response in responses.items():
        assert response.status_code == status
        assert "json" in response["Content-Type"]
        assert isinstance(body_of(response), dict)


@override_settings(PRECONDITIONS={"ERROR_FORMAT": "tests.support.error_formats.not_a_response"})
def test_http_error_format_returning_a_non_response_answers_in_the_default_format(
    client: Client, document: Document
) -> None:
    response = put(client, url_of(document))
    assert response.status_code == 428
    assert response["Content-Type"] == "application/problem+json"


@override_settings(PRECONDITIONS={"ERROR_FORMAT": "rest_framework.views.exception_handler"})
def test_http_error_format_that_raises_answers_in_the_default_format(
    client: Client, document: Document, caplog: pytest.LogCaptureFixture
) -> None:
    """A dotted path to DRF's exception handler (a natural mistake for "drf"): it takes other
    arguments and raises. Logged with the traceback; the 428 is answered, never a 500."""
    with caplog.at_level("ERROR", logger="django_preconditions"):
        response = put(client, url_of(document))
    assert response.status_code == 428
    assert body_of(response)["status"] == 428
    assert "rest_framework.views.exception_handler" in caplog.text
    assert Document.objects.get(pk=document.pk).version_token == document.version_token


@pytest.mark.parametrize("error_format", ["missing_template", "drf_response"])
@pytest.mark.parametrize("adapter", ["decorator", "class-based", "middleware", "drf"])
def test_an_error_format_whose_response_cannot_be_rendered_answers_in_the_default_format(
    client: Client,
    document: Document,
    caplog: pytest.LogCaptureFixture,
    error_format: str,
    adapter: str,
) -> None:
    """Rules 33, 36, 38 (docs/errors.md, "Your own format"): a response rendered later — a
    TemplateResponse whose template does not exist, a DRF Response outside DRF — is
    rendered by the format's caller, so that its failure is logged and answered in the
    default format; it was an HTML 500 when Django rendered it. DRF renders its own Response
    in a DRF view: that one is the project's body."""
    url = {
        "decorator": "/docs/{}/",
        "class-based": "/cbv/docs/{}/",
        "middleware": "/plain/docs/{}/",
        "drf": "/api/docs/{}/",
    }[adapter].format(document.pk)
    preconditions: dict[str, Any] = {"ERROR_FORMAT": f"tests.support.error_formats.{error_format}"}
    middleware = django_settings.MIDDLEWARE
    if adapter == "middleware":
        preconditions["VIEWS"] = {
            "document-plain": {"model": "testapp.Document", "lookup_url_kwarg": "pk"}
        }
        middleware = MIDDLEWARE_ON
    if adapter == "drf":
        client.force_login(User.objects.create_user("alice"))
    with (
        override_settings(PRECONDITIONS=preconditions, MIDDLEWARE=middleware),
        caplog.at_level("ERROR", logger="django_preconditions"),
    ):
        required = put(client, url)
        failed = put(client, url, **{"If-Match": '"stale"'})
    assert (required.status_code, failed.status_code) == (428, 412)
    if error_format == "drf_response" and adapter == "drf":
        assert (body_of(required), body_of(failed)) == (
            {"problem": "precondition_required"},
            {"problem": "precondition_failed"},
        )
        assert "could not be rendered" not in caplog.text
    else:
        assert required["Content-Type"] == failed["Content-Type"] == "application/problem+json"
        assert (body_of(required)["status"], body_of(failed)["status"]) == (428, 412)
        assert "could not be rendered" in caplog.text
    assert required["Cache-Control"] == "no-store"
    assert failed["ETag"] == document.etag
    assert Document.objects.get(pk=document.pk).version_token == document.version_token


def test_http_refusals_send_signals_and_are_logged_once(
    client: Client,
    document: Document,
    received: dict[str, list[dict[str, Any]]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    stale = changed_elsewhere(document)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert put(client, url_of(document)).status_code == 428
        assert put(client, url_of(document), **{"If-Match": stale}).status_code == 412
    (required,) = received["required"]
    (failed,) = received["failed"]
    assert required["reason"] is Reason.PRECONDITION_MISSING
    assert failed["reason"] is Reason.IF_MATCH_FAILED
    for call in (required, failed):
        assert call["request"].path == url_of(document)
        assert call["view"].__name__ == "document_detail"
    records = [record for record in caplog.records if record.name == "django.request"]
    logged = [(record.levelno, getattr(record, "status_code", None)) for record in records]
    assert logged == [(logging.WARNING, 428), (logging.WARNING, 412)]


# --- Link: rel="help" (DOCUMENTATION_URL) ----------------------------------------------------

MIDDLEWARE_ON = [
    *django_settings.MIDDLEWARE,
    "django_preconditions.middleware.PreconditionMiddleware",
]
# One path per adapter: decorator, class-based mixin, DRF mixin, middleware (settings rule).
ADAPTER_PATHS = ["/docs/{pk}/", "/cbv/docs/{pk}/", "/api/docs/{pk}/", "/plain/docs/{pk}/"]
MIDDLEWARE_RULE = {
    "document-plain": {"model": "testapp.Document", "lookup_url_kwarg": "pk"},
}


@pytest.mark.parametrize("status", [428, 412])
def test_link_help_header_points_to_the_documentation_url(rf: RequestFactory, status: int) -> None:
    with override_settings(PRECONDITIONS={"DOCUMENTATION_URL": DOCS}):
        response = respond(rf, status)
    assert response.headers["Link"] == f'<{DOCS}>; rel="help"'


@pytest.mark.parametrize("status", [428, 412, 400])
def test_no_link_header_without_documentation_url(rf: RequestFactory, status: int) -> None:
    assert "Link" not in respond(rf, status).headers


@override_settings(PRECONDITIONS={"DOCUMENTATION_URL": DOCS})
def test_no_link_header_on_a_malformed_header(rf: RequestFactory) -> None:
    """400 is about the syntax, which the body's `expected` explains; the help link is for
    the precondition protocol (412/428)."""
    assert "Link" not in respond(rf, 400).headers


@pytest.mark.parametrize("path", ADAPTER_PATHS)
@pytest.mark.parametrize("if_match", [None, '"stale"'])
def test_every_adapter_sends_the_link_header_on_428_and_412(
    client: Client, document: Document, path: str, if_match: str | None
) -> None:
    block = {"DOCUMENTATION_URL": DOCS, "VIEWS": MIDDLEWARE_RULE}
    headers = {"If-Match": if_match} if if_match else {}
    with override_settings(MIDDLEWARE=MIDDLEWARE_ON, PRECONDITIONS=block):
        response = put(client, path.format(pk=document.pk), **headers)
    assert response.status_code == (412 if if_match else 428)
    assert response.headers["Link"] == f'<{DOCS}>; rel="help"'


# --- The detailed guidance body (JSON_DETAILED_HEADERS) ----------------------------------------


def test_detailed_guidance_lists_each_header_with_description_example_and_source(
    rf: RequestFactory,
) -> None:
    with override_settings(PRECONDITIONS={"JSON_DETAILED_HEADERS": True}):
        body = body_of(respond(rf, 428, error_format="json"))
    assert set(body) == GUIDANCE_KEYS
    assert body["required_headers"] == [
        {
            "name": "If-Match",
            "description": "the ETag from your last GET",
            "example": f"If-Match: {CURRENT_ETAG}",
            "obtain_from": f"http://testserver{PATH}",
        },
        {
            "name": "If-Unmodified-Since",
            "description": "the Last-Modified from your last GET",
            "example": f"If-Unmodified-Since: {LAST_MODIFIED_DATE}",
            "obtain_from": f"http://testserver{PATH}",
        },
    ]


def test_detailed_guidance_shows_placeholders_when_the_current_version_is_hidden(
    rf: RequestFactory,
) -> None:
    """Rule 37: without INCLUDE_CURRENT_ETAG (or for an unreadable resource), neither the ETag
    nor the date that would identify the version appears in the examples."""
    block = {"JSON_DETAILED_HEADERS": True, "INCLUDE_CURRENT_ETAG": False}
    with override_settings(PRECONDITIONS=block):
        body = body_of(respond(rf, 428, error_format="json"))
    examples = [item["example"] for item in body["required_headers"]]
    assert examples == [
        'If-Match: "<the ETag from your last GET>"',
        "If-Unmodified-Since: <the Last-Modified from your last GET>",
    ]


def test_detailed_guidance_only_lists_the_accepted_headers(rf: RequestFactory) -> None:
    with override_settings(PRECONDITIONS={"JSON_DETAILED_HEADERS": True}):
        body = body_of(respond(rf, 428, error_format="json", required_headers=["If-Match"]))
    assert [item["name"] for item in body["required_headers"]] == ["If-Match"]


@pytest.mark.parametrize("error_format", ["problem", "drf"])
def test_detailed_guidance_leaves_the_other_formats_alone(
    rf: RequestFactory, error_format: str
) -> None:
    with override_settings(PRECONDITIONS={"JSON_DETAILED_HEADERS": True}):
        body = body_of(respond(rf, 428, error_format=error_format))
    assert body.get("required_headers", ["If-Match", "If-Unmodified-Since"]) == [
        "If-Match",
        "If-Unmodified-Since",
    ]


def test_without_the_setting_required_headers_stays_a_list_of_names(rf: RequestFactory) -> None:
    body = body_of(respond(rf, 428, error_format="json"))
    assert body["required_headers"] == ["If-Match", "If-Unmodified-Since"]


def test_the_drf_adapter_serves_the_detailed_guidance_body(
    client: Client, document: Document
) -> None:
    block = {"ERROR_FORMAT": "json", "JSON_DETAILED_HEADERS": True}
    with override_settings(PRECONDITIONS=block):
        response = put(client, f"/api/docs/{document.pk}/")
    assert response.status_code == 428
    [first, second] = response.json()["required_headers"]
    assert first["name"] == "If-Match"
    assert first["example"] == f"If-Match: {document.etag}"
    assert first["obtain_from"] == f"http://testserver/api/docs/{document.pk}/"
    assert second["description"] == "the Last-Modified from your last GET"


# --- the registry of formats (django_preconditions.formats) -----------------------------------


@pytest.mark.parametrize("name", list(ERROR_FORMATS))
@pytest.mark.parametrize("status", [428, 412, 400])
def test_every_registered_format_renders_its_members_with_its_content_type(
    rf: RequestFactory, name: str, status: int
) -> None:
    """Rule 34: the renderer, the DRF mixin, the schema and the validation all read one
    registry; each entry's body has its members and is sent with its media type."""
    registered = ERROR_FORMATS[name]
    response = respond(rf, status, error_format=name)
    assert response.status_code == status
    assert response["Content-Type"] == registered.header
    assert set(registered.members) <= set(body_of(response))
    assert name in defaults.ERROR_FORMATS


def test_the_registry_names_the_admin_choices_and_the_schema_serializers() -> None:
    from django_preconditions import spectacular
    from django_preconditions.admin import ProtectedEndpointForm

    choices = [value for value, _label in ProtectedEndpointForm.base_fields["error_format"].choices]  # type: ignore[attr-defined]
    assert choices == ["", *ERROR_FORMATS]
    for registered in ERROR_FORMATS.values():
        for schema in (registered.schema, registered.detailed_schema):
            assert schema is None or hasattr(spectacular, schema)
    assert built_in(lambda request, error: HttpResponse()) is None
    assert built_in("tests.support.error_formats.envelope_error") is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("headers", "says", "never"),
    [
        ({}, "it carries no precondition header", "conditional headers"),
        ({"If-None-Match": '"abc"'}, "none of its conditional headers", "no precondition header"),
        (
            {"If-Modified-Since": "Tue, 30 Jun 2015 00:00:00 GMT"},
            "none of its conditional headers",
            "no precondition header",
        ),
    ],
)
def test_a_428_says_whether_the_request_carried_conditional_headers(
    headers: dict[str, str], says: str, never: str
) -> None:
    """Rule 35: a 428 names the problem; it never claims that a request carrying a
    conditional header carries none."""
    document = Document.objects.create(title="a")
    response = Client().put(
        f"/docs/{document.pk}/", "{}", content_type="application/json", headers=headers
    )
    assert response.status_code == 428
    assert says in response.json()["detail"]
    assert never not in response.json()["detail"]


@pytest.mark.django_db
def test_a_412_explains_if_none_match_star_only_when_the_client_sent_it() -> None:
    """Rule 36: the 412 of a listed entity-tag (rule 17) does not talk about ``*``."""
    document = Document.objects.create(title="a")
    url = f"/docs/{document.pk}/"
    listed = Client().put(
        url,
        "{}",
        content_type="application/json",
        headers={"If-Match": document.etag, "If-None-Match": document.etag},
    )
    star = Client().put(url, "{}", content_type="application/json", headers={"If-None-Match": "*"})
    assert listed.status_code == star.status_code == 412
    assert "the current entity-tag is listed in If-None-Match" in listed.json()["detail"]
    assert "If-None-Match: *" not in listed.json()["detail"]
    assert "the resource exists" in star.json()["detail"]
    assert "If-None-Match: * asks to create the resource" in star.json()["detail"]


@pytest.mark.parametrize(("method", "example"), [("PUT", "If-None-Match: *")])
def test_a_malformed_if_none_match_gets_an_example_that_would_succeed(
    client: Client, document: Document, method: str, example: str
) -> None:
    # On a write, If-None-Match with the current tag would be a sure 412: the example is the
    # create-only form instead (rules 5, 26).
    response = client.generic(
        method,
        f"/docs/{document.pk}/",
        b'{"title": "x"}',
        content_type="application/json",
        headers={"If-None-Match": "unquoted"},
    )
    assert response.status_code == 400
    assert response.json()["example"].startswith(example)
