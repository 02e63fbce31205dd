"""The example project, used as a person would use it: a real server process, real HTTP.

``manage.py migrate``, ``manage.py load_demo_data`` and ``manage.py runserver`` run as
subprocesses against a temporary SQLite database (``DATABASE_URL``), and every contract
endpoint of issue 5 is called over HTTP: 200 with ``ETag`` on GET, 428 on PUT without a
precondition, 200 with a new ``ETag`` with the current one, 412 with the current ``ETag`` on a
stale one, 304 on a matching ``If-None-Match``. The server also serves the playground
(``tests/test_playground_browser.py`` shares it).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass
from email.message import Message
from typing import Any

import pytest

from tests.support.example_server import EXAMPLE, ROOT, STARTUP_LIMIT, ExampleServer

# -- HTTP ----------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def etag(self) -> str | None:
        return self.headers.get("ETag")


def request(
    method: str,
    path: str,
    *,
    server: ExampleServer,
    headers: dict[str, str] | None = None,
    body: Any = None,
) -> Response:
    """One request on a fresh connection; JSON-encodes ``body`` unless it is bytes."""
    data: bytes | None = None
    headers = {"Accept": "application/json", **(headers or {})}
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        return Response(response.status, response.headers, response.read())
    finally:
        connection.close()


# -- the contract endpoints ------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: str  # with {id}
    fields: tuple[str, ...]

    def edit(self, text: str) -> dict[str, str]:
        return {name: f"{text} ({name})" for name in self.fields}


DRF = Endpoint("DRF viewset", "/api/documents/{id}/", ("title", "body"))
FUNCTION_VIEW = Endpoint("decorated function view", "/documents/{id}/", ("title", "body"))
NOTES = Endpoint("settings + middleware", "/notes/{id}/", ("text",))
CLASS_BASED_VIEW = Endpoint("class-based view", "/cbv/documents/{id}/", ("title", "body"))
ENDPOINTS = [DRF, FUNCTION_VIEW, CLASS_BASED_VIEW, NOTES]


def post_form(
    server: ExampleServer, form_page: str, action: str, fields: dict[str, str]
) -> Response:
    """Submit a form as a browser does: GET the page holding it for the CSRF cookie and token,
    then POST the fields with them."""
    page = request("GET", form_page, server=server, headers={"Accept": "text/html"})
    cookie = re.search(r"csrftoken=([^;]+)", page.headers["Set-Cookie"])
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
    assert cookie
    assert token
    return request(
        "POST",
        action,
        server=server,
        headers={
            "Accept": "text/html",
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={cookie.group(1)}",
            "Referer": f"{server.base_url}{form_page}",
        },
        body=urllib.parse.urlencode(
            {**fields, "csrfmiddlewaretoken": token.group(1).decode()}
        ).encode(),
    )


def new_document(server: ExampleServer, title: str = "Test document") -> int:
    created = request("POST", "/api/documents/", server=server, body={"title": title, "body": ""})
    assert created.status == 201, created.body
    return int(created.json()["id"])


def target_url(server: ExampleServer, endpoint: Endpoint) -> str:
    """A resource of its own for a document endpoint; the first demo note for notes."""
    if endpoint is NOTES:
        return endpoint.url.format(id=1)
    return endpoint.url.format(id=new_document(server))


@pytest.fixture(params=ENDPOINTS, ids=lambda endpoint: endpoint.name)
def endpoint(request: pytest.FixtureRequest) -> Endpoint:
    return request.param  # type: ignore[no-any-return]


def test_item_11_options_never_answers_500_on_any_endpoint(
    example_server: ExampleServer, endpoint: Endpoint
) -> None:
    """Issue 9, item 11: the example's views read ``request.preconditions`` unconditionally,
    as the docs show; a CORS preflight (OPTIONS) must not crash them (rule 14)."""
    response = request("OPTIONS", target_url(example_server, endpoint), server=example_server)
    assert response.status < 500, response.body
    assert response.status != 428


def test_the_server_answers_within_60_seconds_of_start(example_server: ExampleServer) -> None:
    assert example_server.startup_seconds < STARTUP_LIMIT


def test_get_answers_200_with_a_strong_etag_and_last_modified(
    example_server: ExampleServer, endpoint: Endpoint
) -> None:
    response = request("GET", target_url(example_server, endpoint), server=example_server)
    assert response.status == 200
    assert re.fullmatch(r'"[A-Za-z0-9_-]+"', response.etag or "")
    assert response.headers["Last-Modified"].endswith(" GMT")


def test_put_without_a_precondition_is_428_and_changes_nothing(
    example_server: ExampleServer, endpoint: Endpoint
) -> None:
    url = target_url(example_server, endpoint)
    before = request("GET", url, server=example_server)
    response = request("PUT", url, server=example_server, body=endpoint.edit("Blind write"))
    assert response.status == 428
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["Cache-Control"] == "no-store"
    assert "If-Match" in response.json()["detail"]
    after = request("GET", url, server=example_server)
    assert (after.etag, after.body) == (before.etag, before.body)


def test_put_with_the_current_etag_is_200_with_a_new_etag(
    example_server: ExampleServer, endpoint: Endpoint
) -> None:
    url = target_url(example_server, endpoint)
    etag = request("GET", url, server=example_server).etag
    assert etag
    edit = endpoint.edit("Careful write")
    response = request("PUT", url, server=example_server, headers={"If-Match": etag}, body=edit)
    assert response.status == 200, response.body
    assert response.etag
    assert response.etag != etag
    assert {name: response.json()[name] for name in endpoint.fields} == edit
    assert request("GET", url, server=example_server).etag == response.etag


def test_put_with_a_stale_etag_is_412_with_the_current_etag(
    example_server: ExampleServer, endpoint: Endpoint
) -> None:
    url = target_url(example_server, endpoint)
    stale = request("GET", url, server=example_server).etag
    assert stale
    first = request(
        "PUT", url, server=example_server, headers={"If-Match": stale}, body=endpoint.edit("One")
    )
    assert first.status == 200
    second = request(
        "PUT", url, server=example_server, headers={"If-Match": stale}, body=endpoint.edit("Two")
    )
    assert second.status == 412
    assert second.etag == first.etag  # the current version, to re-read and retry
    assert "Last-Modified" in second.headers
    assert second.json()["status"] == 412
    current = request("GET", url, server=example_server)
    assert current.etag == first.etag
    assert {name: current.json()[name] for name in endpoint.fields} == endpoint.edit("One")


def test_get_with_a_matching_if_none_match_is_304_without_a_body(
    example_server: ExampleServer, endpoint: Endpoint
) -> None:
    url = target_url(example_server, endpoint)
    etag = request("GET", url, server=example_server).etag
    assert etag
    response = request("GET", url, server=example_server, headers={"If-None-Match": etag})
    assert response.status == 304
    assert response.body == b""
    assert response.etag == etag
    changed = request("GET", url, server=example_server, headers={"If-None-Match": '"other"'})
    assert changed.status == 200


@pytest.mark.parametrize("document_endpoint", [DRF, FUNCTION_VIEW], ids=lambda e: e.name)
def test_delete_needs_the_current_etag(
    example_server: ExampleServer, document_endpoint: Endpoint
) -> None:
    url = document_endpoint.url.format(id=new_document(example_server))
    assert request("DELETE", url, server=example_server).status == 428
    etag = request("GET", url, server=example_server).etag
    assert etag
    response = request("DELETE", url, server=example_server, headers={"If-Match": etag})
    assert response.status == 204
    assert "ETag" not in response.headers
    assert request("GET", url, server=example_server).status == 404


def test_the_drf_viewset_also_patches_and_creates_with_validators(
    example_server: ExampleServer,
) -> None:
    created = request(
        "POST", "/api/documents/", server=example_server, body={"title": "Posted", "body": ""}
    )
    assert created.status == 201
    assert created.etag
    location = urllib.parse.urlsplit(created.headers["Location"]).path
    assert location == f"/api/documents/{created.json()['id']}/"
    assert request("PATCH", location, server=example_server, body={"body": "x"}).status == 428
    patched = request(
        "PATCH",
        location,
        server=example_server,
        headers={"If-Match": created.etag},
        body={"body": "Patched"},
    )
    assert patched.status == 200
    assert patched.json()["body"] == "Patched"
    assert patched.etag != created.etag


def test_the_drf_viewset_creates_by_put_only_once_with_if_none_match_star(
    example_server: ExampleServer,
) -> None:
    ids = [item["id"] for item in request("GET", "/api/documents/", server=example_server).json()]
    url = f"/api/documents/{max(ids) + 1000}/"
    headers = {"If-None-Match": "*"}
    body = {"title": "Created by PUT", "body": ""}
    created = request("PUT", url, server=example_server, headers=headers, body=body)
    assert created.status == 201
    assert created.etag
    again = request("PUT", url, server=example_server, headers=headers, body=body)
    assert again.status == 412
    assert again.etag == created.etag


def test_the_notes_view_is_protected_only_by_settings_and_the_middleware() -> None:
    views = (EXAMPLE / "documents" / "views.py").read_text()
    note_view = views[views.index("def note_detail") :]
    note_view = note_view[: note_view.index("\n\n\n")]
    decorators = views[: views.index("def note_detail")].rsplit("\n\n\n", 1)[1]
    assert "require_preconditions" not in decorators + note_view
    settings = (EXAMPLE / "config" / "settings.py").read_text()
    assert '"note-detail": {"model": "documents.Note", "lookup_url_kwarg": "pk"}' in settings
    assert '"django_preconditions.middleware.PreconditionMiddleware"' in settings


def test_the_example_projects_own_tests_pass_with_the_pytest_plugin() -> None:
    """Issue 14: the example project tests itself with the plugin's fixtures
    (preconditions_client, preconditions_api_client, assert_protected, assert_all_protected),
    found through the pytest11 entry point, in a pytest run of its own."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")  # its pytest.ini names them
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q"],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b8 passed\b", done.stdout), done.stdout


# -- OpenAPI, Swagger UI, admin, pages ----------------------------------------------------------


def test_the_openapi_schema_is_valid_and_documents_the_preconditions(
    example_server: ExampleServer,
) -> None:
    from openapi_spec_validator import validate

    response = request("GET", "/api/schema/?format=json", server=example_server)
    assert response.status == 200
    schema = response.json()
    validate(schema)
    update = schema["paths"]["/api/documents/{id}/"]["put"]
    if_match = next(p for p in update["parameters"] if p["name"] == "If-Match")
    assert if_match["in"] == "header"
    assert {"412", "428"} <= set(update["responses"])
    assert "ETag" in schema["paths"]["/api/documents/{id}/"]["get"]["responses"]["200"]["headers"]


def test_the_browsable_api_describes_the_viewset_in_plain_text(
    example_server: ExampleServer,
) -> None:
    """Its docstring is shown as written: no reST markup leaks into the page."""
    response = request(
        "GET", "/api/documents/", server=example_server, headers={"Accept": "text/html"}
    )
    assert response.status == 200
    html = response.body.decode()
    assert "PUT, PATCH and DELETE need If-Match" in html
    assert "``" not in html


def test_reset_demo_data_puts_the_demo_documents_back(example_server: ExampleServer) -> None:
    changed = new_document(example_server, title="Made by a scenario")
    response = post_form(example_server, "/playground/", "/playground/reset/", {})
    assert response.status == 302
    assert response.headers["Location"] == "/playground/"
    assert request("GET", f"/api/documents/{changed}/", server=example_server).status == 404
    listing = request("GET", "/api/documents/", server=example_server).json()
    items = listing["results"] if isinstance(listing, dict) else listing
    assert [item["title"] for item in items] == [
        "Meeting notes",
        "Release checklist",
        "Style guide",
    ]


def test_swagger_ui_is_served_without_external_urls(example_server: ExampleServer) -> None:
    response = request("GET", "/api/docs/", server=example_server, headers={"Accept": "text/html"})
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/html")
    html = response.body.decode()
    assert not re.search(r"https?://", html), "Swagger UI must work offline"
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert len(assets) >= 3
    for asset in assets:
        assert request("GET", asset, server=example_server, headers={"Accept": "*/*"}).status == 200


def test_the_admin_login_page_loads_and_the_demo_superuser_can_log_in(
    example_server: ExampleServer,
) -> None:
    redirect = request("GET", "/admin/", server=example_server, headers={"Accept": "text/html"})
    assert redirect.status == 302
    assert redirect.headers["Location"].startswith("/admin/login/")
    login = request("GET", "/admin/login/", server=example_server, headers={"Accept": "text/html"})
    assert login.status == 200
    assert b'name="username"' in login.body
    logged_in = post_form(
        example_server,
        "/admin/login/",
        "/admin/login/",
        {"username": "admin", "password": "admin", "next": "/admin/"},
    )
    assert logged_in.status == 302, logged_in.body[:2000]
    cookies_set = "\n".join(logged_in.headers.get_all("Set-Cookie") or [])
    session = re.search(r"sessionid=([^;]+)", cookies_set)
    assert session
    cookies = {"Accept": "text/html", "Cookie": f"sessionid={session.group(1)}"}
    for page in (
        "/admin/documents/document/",
        "/admin/documents/document/1/change/",
        "/admin/documents/note/",
        "/admin/django_preconditions/protectedendpoint/",
    ):
        assert request("GET", page, server=example_server, headers=cookies).status == 200, page


def test_the_start_page_links_to_everything(example_server: ExampleServer) -> None:
    response = request("GET", "/", server=example_server, headers={"Accept": "text/html"})
    assert response.status == 200
    html = response.body.decode()
    for link in ("/playground/", "/api/documents/", "/api/docs/", "/api/schema/", "/admin/"):
        assert f'href="{link}"' in html, link
    playground = request("GET", "/playground/", server=example_server, headers={"Accept": "*/*"})
    assert playground.status == 200
    for script in re.findall(r'src="(/static/[^"]+)"', playground.body.decode()):
        assert (
            request("GET", script, server=example_server, headers={"Accept": "*/*"}).status == 200
        )


def test_load_demo_data_is_idempotent_and_prints_the_demo_credentials(
    example_server: ExampleServer,
) -> None:
    output = example_server.manage("load_demo_data")
    assert "0 object(s) created" in output
    assert "username 'admin', password 'admin'" in output


# -- the client guide (docs/clients.md) runs against the server --------------------------------

CLIENTS_DOC = ROOT / "docs" / "clients.md"
CLIENT_JS = EXAMPLE / "documents" / "static" / "documents" / "preconditions-client.js"


def _fenced(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def test_the_javascript_in_the_client_guide_is_the_code_the_playground_runs() -> None:
    blocks = _fenced(CLIENTS_DOC.read_text(), "js")
    assert CLIENT_JS.read_text() in blocks


class _UrllibSession:
    """The part of ``requests.Session`` the guide's functions use, when requests is absent."""

    def __init__(self, server: ExampleServer) -> None:
        self.server = server

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        path = urllib.parse.urlsplit(url).path
        response = request(
            method, path, server=self.server, headers=kwargs.get("headers"), body=kwargs.get("json")
        )

        class Result:
            status_code = response.status
            headers = response.headers
            ok = response.status < 400

            @staticmethod
            def json() -> Any:
                return response.json()

            @staticmethod
            def raise_for_status() -> None:
                if response.status >= 400:
                    raise RuntimeError(f"{method} {url}: {response.status}")

        return Result()

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.request("GET", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> Any:
        return self.request("PUT", url, **kwargs)


def test_the_python_client_in_the_guide_retries_after_412(example_server: ExampleServer) -> None:
    namespace: dict[str, Any] = {}
    for block in _fenced(CLIENTS_DOC.read_text(), "python"):
        if "def update_with_retry" in block:
            exec(compile(block, str(CLIENTS_DOC), "exec"), namespace)
    update_with_retry = namespace["update_with_retry"]
    try:
        import requests

        session: Any = requests.Session()
    except ImportError:
        session = _UrllibSession(example_server)
    url = f"{example_server.base_url}/api/documents/{new_document(example_server, 'Shared')}/"
    interfered = []

    def change(document: dict[str, Any]) -> dict[str, Any]:
        if not interfered:  # another client saves between our read and our write
            interfered.append(True)
            etag = request("GET", urllib.parse.urlsplit(url).path, server=example_server).etag
            other = request(
                "PUT",
                urllib.parse.urlsplit(url).path,
                server=example_server,
                headers={"If-Match": etag or ""},
                body={"title": "Shared", "body": "theirs"},
            )
            assert other.status == 200
        return {**document, "title": document["title"] + " + mine"}

    result = update_with_retry(session, url, change)
    assert result["title"] == "Shared + mine"
    assert result["body"] == "theirs"  # re-read and re-applied: their change is kept
    assert interfered == [True]


def test_rule_12_notes_answer_405_for_patch_whatever_the_preconditions(
    example_server: ExampleServer,
) -> None:
    """Issue 10, item 2: the middleware decides after the view's method dispatch."""
    url = NOTES.url.format(id=1)
    current = request("GET", url, server=example_server).etag
    assert current
    for headers in ({}, {"If-Match": '"stale"'}, {"If-Match": current}):
        response = request("PATCH", url, server=example_server, headers=headers, body={"text": "x"})
        assert response.status == 405
        assert response.etag is None
    assert request("GET", url, server=example_server).etag == current
