"""The documentation cannot drift from the code: every ```python block of docs/*.md and
README.md runs in this test suite.

How a block runs depends on its kind (:func:`kind_of`); the kinds are few on purpose:

- **example** (the default). The blocks of a page run in page order, in one namespace per page
  (like a doctest session), against the test database. ``myapp.models`` is the test app's
  models (``myapp.models.Document`` is ``tests.testapp.models.Document``) and ``myapp.views``
  is the page itself, so a ``urls.py`` block imports the views an earlier block defined. The
  page's ``urlpatterns`` are the URLconf; they start with the quickstart's view at
  ``/documents/<pk>/`` and the example project's DRF viewset at ``/api/documents/<pk>/``.
  Adapters stand in for the outside world, never for the code shown:

  - Django models a block defines are created inside ``isolate_apps`` (they have no table),
    must pass Django's and django-preconditions' model checks, and do not outlive the block:
    the names go back to what they were (usually the test app's models).
  - ``requests`` calls to ``http://127.0.0.1:8000`` (the example project's address) are
    served by Django's test client from the page's URLconf; any other URL fails the test. A
    small stand-in for ``requests`` is used where the package is not installed.
  - ``subprocess.run(["python", "manage.py", ...])`` runs the command in process
    (``call_command``); any other command fails the test.
  - ``admin.register()``/``admin.site`` use a fresh admin site per page, whose checks must pass.

  Some pages end with a few calls that exercise functions their blocks only define
  (``EPILOGUES``), e.g. the client guide's retry loop against a concurrent write.
- **settings**: a block made only of imports and ``UPPER_CASE = ...`` assignments. It is
  applied with ``override_settings`` (lists shown with ``# ...``, ``INSTALLED_APPS`` and
  ``MIDDLEWARE``, are added to the test settings' own), and every system check must pass;
  ``CORS_*`` settings are checked as if django-cors-headers were installed. The settings
  shown in docs/example.md must be those of ``example_project/config/settings.py``.
- **signature**: only ``def name(...): ...`` stubs. Each must have the signature of the
  callable of that name that the page imported earlier.
- **no-run**: a block preceded by ``<!-- no-run: <reason> -->``. It is compiled but not run;
  there may be at most ``NO_RUN_LIMIT`` of them, and they are listed (as a skip with the
  reasons) in every test run. Any other HTML comment before a python block fails.

Besides, every ```http block of docs/errors.md preceded by ``<!-- response: <name> -->`` is a
real response: the request named in ``RESPONSES`` is made and its status, headers and JSON
body must equal the documented ones (version tokens and dates aside).
"""

from __future__ import annotations

import ast
import copy
import enum
import inspect
import io
import json
import re
import runpy
import subprocess
import sys
import textwrap
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib import admin
from django.core.checks import run_checks
from django.core.management import CommandError, call_command
from django.db import models
from django.http import HttpResponse
from django.test import Client, override_settings
from django.test.utils import isolate_apps
from django.urls import clear_url_caches, include, path
from django.utils import translation
from django.utils.datastructures import CaseInsensitiveMapping
from django.utils.module_loading import import_string
from rest_framework.routers import DefaultRouter, SimpleRouter

from django_preconditions import VersionConflict, signals
from django_preconditions.checks import check_settings_block, check_versioned_models
from django_preconditions.interop_checks import _CORS_DEFAULT_ALLOW_HEADERS, check_cors_headers
from tests.support.documents import settle
from tests.testapp import drf_views as testapp_drf_views
from tests.testapp import models as testapp_models
from tests.testapp import views as testapp_views

ROOT = Path(__file__).resolve().parent.parent
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
NO_RUN_MARK = re.compile(r"<!-- no-run: (?P<reason>\S.*?) -->")
NO_RUN_LIMIT = 3
RESPONSE_MARK = re.compile(r"<!-- response: ([\w-]+) -->")
FENCE_START = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*$")
#: Where the docs' HTTP clients find the server: the address `make demo` serves on.
DEMO_ORIGIN = "http://127.0.0.1:8000"
#: Pages whose settings blocks show the example project's settings.
EXAMPLE_PROJECT_PAGES = {"example.md"}
EXAMPLE_PROJECT_SETTINGS = ROOT / "example_project" / "config" / "settings.py"
#: The test app, which holds the models that doc examples define (see ``isolate_apps``).
TEST_APP = "tests.testapp"

# The URLconf the examples of every page start with: the quickstart's view, and the example
# project's DRF viewset (create-by-PUT allowed) where the client guide sends its requests.
_demo_api = SimpleRouter()
_demo_api.register(
    "api/documents", testapp_drf_views.CreatingDocumentViewSet, basename="demo-document"
)
urlpatterns = [
    path(
        "documents/<int:pk>/",
        testapp_views.document_detail_reusing_instance,
        name="document-detail",
    ),
    *_demo_api.urls,
]


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    marker: str  # the nearest non-blank line before the fence

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def fenced_blocks(page: Path) -> list[Block]:
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    previous = ""
    while index < len(lines):
        start = FENCE_START.match(lines[index])
        if start is None:
            if lines[index].strip():
                previous = lines[index].strip()
            index += 1
            continue
        indent = start.group("indent")
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        assert end < len(lines), f"{page.name}:{index + 1}: code block never closed"
        body = "\n".join(line.removeprefix(indent) for line in lines[index + 1 : end])
        blocks.append(Block(page, index + 1, start.group("lang"), textwrap.dedent(body), previous))
        previous = ""
        index = end + 1
    return blocks


ALL_BLOCKS = [block for page in PAGES for block in fenced_blocks(page)]
PYTHON_BLOCKS = [block for block in ALL_BLOCKS if block.lang == "python"]


# -- kinds ---------------------------------------------------------------------------------


class Kind(enum.Enum):
    EXAMPLE = "example"
    SETTINGS = "settings"
    SIGNATURE = "signature"
    NO_RUN = "no-run"


def _is_settings(tree: ast.Module) -> bool:
    def setting(statement: ast.stmt) -> bool:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            return True
        if isinstance(statement, ast.Assign):
            return all(
                isinstance(target, ast.Name) and target.id.isupper() for target in statement.targets
            )
        return False

    return any(isinstance(statement, ast.Assign) for statement in tree.body) and all(
        setting(statement) for statement in tree.body
    )


def _is_signature(tree: ast.Module) -> bool:
    def stub(statement: ast.stmt) -> bool:
        return (
            isinstance(statement, ast.FunctionDef)
            and not statement.decorator_list
            and len(statement.body) == 1
            and isinstance(statement.body[0], ast.Expr)
            and isinstance(statement.body[0].value, ast.Constant)
            and statement.body[0].value.value is Ellipsis
        )

    return bool(tree.body) and all(stub(statement) for statement in tree.body)


def kind_of(block: Block) -> Kind:
    if NO_RUN_MARK.fullmatch(block.marker):
        return Kind.NO_RUN
    tree = ast.parse(block.code)
    if _is_settings(tree):
        return Kind.SETTINGS
    if _is_signature(tree):
        return Kind.SIGNATURE
    return Kind.EXAMPLE


def blocks_of_kind(kind: Kind) -> list[Block]:
    return [block for block in PYTHON_BLOCKS if kind_of(block) is kind]


PYTHON_PAGES = sorted({block.page for block in PYTHON_BLOCKS})


def test_the_documentation_has_python_examples_and_runs_them() -> None:
    assert len(PYTHON_BLOCKS) > 60
    assert len(blocks_of_kind(Kind.EXAMPLE)) > 40
    pages = {block.page.name for block in blocks_of_kind(Kind.EXAMPLE)}
    assert {
        "quickstart.md",
        "models.md",
        "views.md",
        "errors.md",
        "clients.md",
        "migrating.md",
        "faq.md",
        "README.md",
    } <= pages


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda block: block.id)
def test_every_python_example_compiles(block: Block) -> None:
    compile(block.code, block.id, "exec")


def test_python_code_is_always_fenced_as_python() -> None:
    """Another spelling would escape the runner."""
    others = [
        block.id
        for block in ALL_BLOCKS
        if block.lang.lower() in {"py", "py3", "python3", "pycon", "pyi"}
        or (block.lang.lower() == "python" and block.lang != "python")
    ]
    assert others == []


def test_python_blocks_carry_no_marker_but_no_run() -> None:
    """An HTML comment before a python block is either a justified no-run marker or a
    mistake (e.g. a marker that no longer means anything)."""
    unknown = [
        f"{block.id}: {block.marker}"
        for block in PYTHON_BLOCKS
        if block.marker.startswith("<!--") and kind_of(block) is not Kind.NO_RUN
    ]
    assert unknown == []


def test_python_blocks_that_do_not_run_are_few_and_reported() -> None:
    not_run = blocks_of_kind(Kind.NO_RUN)
    assert len(not_run) <= NO_RUN_LIMIT, [block.id for block in not_run]
    if not_run:
        reasons = "; ".join(
            f"{block.id} ({NO_RUN_MARK.fullmatch(block.marker).group('reason')})"  # type: ignore[union-attr]
            for block in not_run
        )
        pytest.skip(f"{len(not_run)} python block(s) of the docs are not run: {reasons}")


# -- adapters for the outside world ------------------------------------------------------------


def _serve(
    method: str, url: str, headers: dict[str, str], body: bytes | str | None
) -> tuple[int, str, dict[str, str], bytes]:
    """Answer a docs example's HTTP request to the demo server with Django's test client."""
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" != DEMO_ORIGIN:
        pytest.fail(f"A docs example requested {url}; only {DEMO_ORIGIN} is served in tests")
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    received = CaseInsensitiveMapping(headers)
    content_type = received.get("Content-Type") or "application/octet-stream"
    forwarded = {
        name: value
        for name, value in received.items()
        if name.lower() not in {"content-type", "content-length", "host"}
    }
    data = body.encode() if isinstance(body, str) else (body or b"")
    response = Client().generic(method, target, data, content_type=content_type, headers=forwarded)
    return (
        response.status_code,
        response.reason_phrase,
        dict(response.headers.items()),
        response.content,
    )


def _install_requests_adapter(monkeypatch: pytest.MonkeyPatch) -> bool:
    """Route ``requests`` to :func:`_serve`; False when requests is not installed."""
    try:
        import requests
        from requests.adapters import BaseAdapter
        from requests.structures import CaseInsensitiveDict
    except ImportError:
        return False

    class TestClientAdapter(BaseAdapter):
        def send(self, request: Any, **kwargs: Any) -> Any:
            status, reason, headers, content = _serve(
                request.method, request.url, dict(request.headers), request.body
            )
            response = requests.Response()
            response.status_code = status
            response.reason = reason
            response.headers = CaseInsensitiveDict(headers)
            response._content = content
            response.encoding = requests.utils.get_encoding_from_headers(response.headers)
            response.url = request.url
            response.request = request
            return response

        def close(self) -> None:
            pass

    adapter = TestClientAdapter()
    monkeypatch.setattr(requests.Session, "get_adapter", lambda self, url: adapter)
    return True


class _StandInResponse:
    def __init__(self, url: str, served: tuple[int, str, dict[str, str], bytes]) -> None:
        self.url = url
        self.status_code, self.reason, headers, self.content = served
        self.headers = CaseInsensitiveMapping(headers)

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    def json(self) -> Any:
        return json.loads(self.content)

    def raise_for_status(self) -> None:
        if not self.ok:
            raise _StandInHTTPError(f"{self.status_code} {self.reason} for url: {self.url}")


class _StandInHTTPError(OSError):
    pass


class _StandInSession:
    """The part of ``requests.Session`` the docs use, for environments without requests."""

    def request(self, method: str, url: str, **options: Any) -> _StandInResponse:
        headers = dict(options.get("headers") or {})
        data = options.get("data")
        if options.get("json") is not None:
            data = json.dumps(options["json"])
            headers.setdefault("Content-Type", "application/json")
        return _StandInResponse(url, _serve(method, url, headers, data))

    def get(self, url: str, **kwargs: Any) -> _StandInResponse:
        return self.request("GET", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> _StandInResponse:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> _StandInResponse:
        return self.request("PATCH", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> _StandInResponse:
        return self.request("POST", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> _StandInResponse:
        return self.request("DELETE", url, **kwargs)


def _install_requests_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    stand_in = types.ModuleType("requests")
    stand_in.Session = _StandInSession  # type: ignore[attr-defined]
    stand_in.HTTPError = _StandInHTTPError  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "requests", stand_in)


def _manage_py(
    args: list[str],
    *,
    check: bool = False,
    capture_output: bool = False,
    text: bool = False,
    **kwargs: Any,
) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run(["python", "manage.py", ...])`` of a docs example, run in process."""
    args = list(args)
    if args[:2] != ["python", "manage.py"]:
        pytest.fail(f"A docs example ran {args}; only `python manage.py ...` is run in tests")
    stdout, stderr = io.StringIO(), io.StringIO()
    returncode = 0
    try:
        call_command(*args[2:], stdout=stdout, stderr=stderr)
    except CommandError as exc:  # manage.py prints it and exits with 1
        stderr.write(f"CommandError: {exc}\n")
        returncode = 1
    out: Any = stdout.getvalue()
    err: Any = stderr.getvalue()
    if not text:
        out, err = out.encode(), err.encode()
    if check and returncode:
        raise subprocess.CalledProcessError(returncode, args, out, err)
    if not capture_output:
        out = err = None
    return subprocess.CompletedProcess(args, returncode, out, err)


# -- running the examples of a page --------------------------------------------------------------


@contextmanager
def _isolated_models(namespace: dict[str, Any]) -> Iterator[None]:
    """Models a block defines live in a registry of their own, pass the model checks, and do
    not outlive the block."""
    before = dict(namespace)
    with isolate_apps(TEST_APP) as registry:
        yield
        defined = registry.get_models()
        problems = [
            *(message for model in defined for message in model.check()),
            *check_versioned_models(app_configs=registry.get_app_configs()),
        ]
        assert problems == []
    for name, value in list(namespace.items()):
        if isinstance(value, type) and issubclass(value, models.Model) and value in defined:
            if name in before:
                namespace[name] = before[name]
            else:
                del namespace[name]


def _signature_matches(block: Block, namespace: dict[str, Any]) -> None:
    stubs: dict[str, Any] = {}
    exec(compile(block.code, block.id, "exec"), stubs)
    for name, stub in stubs.items():
        if not inspect.isfunction(stub):
            continue
        assert name in namespace, f"{block.id}: import {name} on the page before showing it"

        def described(function: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
            return [
                (parameter.name, parameter.kind, parameter.default)
                for parameter in inspect.signature(function).parameters.values()
            ]

        assert described(stub) == described(namespace[name]), block.id


def _run_example(block: Block, namespace: dict[str, Any]) -> None:
    clear_url_caches()
    code = compile(block.code, block.id, "exec")
    if any(isinstance(statement, ast.ClassDef) for statement in ast.parse(block.code).body):
        with _isolated_models(namespace):
            exec(code, namespace)
    else:
        exec(code, namespace)


def run_page(page: Path, monkeypatch: pytest.MonkeyPatch, *, use_requests: bool = True) -> None:
    # Inside the test app's package, so that models defined by examples get its label.
    module_name = f"{TEST_APP}.docs_{page.stem.replace('-', '_').lower()}"
    module = types.ModuleType(module_name)
    module.urlpatterns = list(urlpatterns)  # type: ignore[attr-defined]
    myapp = types.ModuleType("myapp")
    myapp.models = testapp_models  # type: ignore[attr-defined]
    myapp.views = module  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module_name, module)
    monkeypatch.setitem(sys.modules, "myapp", myapp)
    monkeypatch.setitem(sys.modules, "myapp.models", testapp_models)
    monkeypatch.setitem(sys.modules, "myapp.views", module)
    # Receivers the examples connect are dropped after the page.
    for signal in (signals.precondition_failed, signals.precondition_required):
        monkeypatch.setattr(signal, "receivers", list(signal.receivers))
    if not (use_requests and _install_requests_adapter(monkeypatch)):
        _install_requests_stand_in(monkeypatch)
    monkeypatch.setattr(subprocess, "run", _manage_py)
    docs_site = admin.AdminSite(name="docs_admin")
    monkeypatch.setattr(admin, "site", docs_site)
    monkeypatch.setattr(admin.sites, "site", docs_site)
    try:
        with override_settings(ROOT_URLCONF=module_name):
            PAGE_DATA.get(page.name, _nothing)()
            for block in fenced_blocks(page):
                if block.lang != "python":
                    continue
                kind = kind_of(block)
                if kind is Kind.EXAMPLE:
                    _run_example(block, module.__dict__)
                elif kind is Kind.SIGNATURE:
                    _signature_matches(block, module.__dict__)
            clear_url_caches()
            EPILOGUES.get(page.name, _nothing_with)(module)
    finally:
        clear_url_caches()
    assert [
        message for model_admin in docs_site._registry.values() for message in model_admin.check()
    ] == []


def _nothing() -> None:
    pass


def _nothing_with(module: types.ModuleType) -> None:
    pass


@pytest.mark.django_db
@pytest.mark.parametrize("page", PYTHON_PAGES, ids=lambda page: page.name)
def test_the_examples_of_a_page_run(page: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_page(page, monkeypatch)


@pytest.mark.django_db
def test_the_client_guide_also_runs_without_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """`make test` does not install requests; the guide then runs with the stand-in."""
    run_page(ROOT / "docs" / "clients.md", monkeypatch, use_requests=False)


# -- page data and epilogues --------------------------------------------------------------------


def _the_client_guides_document() -> None:
    """The client guide edits /api/documents/1/ of the demo server."""
    testapp_models.Document.objects.create(pk=1, title="Draft", body="Hello")


PAGE_DATA: dict[str, Callable[[], None]] = {"clients.md": _the_client_guides_document}


def _exercise_the_client_guide(module: types.ModuleType) -> None:
    guide = module.__dict__
    session, url = guide["session"], f"{DEMO_ORIGIN}/api/documents/1/"
    Document = testapp_models.Document

    # update_with_retry: a competing write between its read and its write costs one 412, after
    # which it re-reads and re-applies the change: both changes are kept.
    competing = []

    def change(document: dict[str, Any]) -> dict[str, Any]:
        if not competing:
            other = Document.objects.get(pk=1)
            other.body = "Theirs"
            other.save()
            competing.append(other.etag)
        return {**document, "title": document["title"] + " + mine"}

    result = guide["update_with_retry"](session, url, change)
    assert result["body"] == "Theirs"
    assert result["title"].endswith(" + mine")

    # get_json: the second read is a 304 answered from the cache.
    cache: dict[str, Any] = {}
    first = guide["get_json"](session, url, cache)
    assert guide["get_json"](session, url, cache) is first

    # create_once: created the first time only.
    new_url = f"{DEMO_ORIGIN}/api/documents/{Document.objects.order_by('-pk')[0].pk + 1}/"
    assert guide["create_once"](session, new_url, {"title": "New", "body": ""}) is True
    assert guide["create_once"](session, new_url, {"title": "Again", "body": ""}) is False

    # delete_if_unchanged: 412 with an older date, 204 with the Last-Modified it was served
    # once the write's second has settled (rule 24: until then the second before is served).
    assert guide["delete_if_unchanged"](session, new_url, "Tue, 01 Jul 2025 12:00:00 GMT") == 412
    settle(Document.objects.order_by("-pk")[0])
    last_modified = session.get(new_url).headers["Last-Modified"]
    assert guide["delete_if_unchanged"](session, new_url, last_modified) == 204

    # retry_on_conflict: retries on PreconditionFailed only, and gives up after `attempts`.
    failed, attempts = guide["PreconditionFailed"], []

    def attempt() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise failed
        return "saved"

    assert guide["retry_on_conflict"](attempt, pause=0) == "saved"
    assert len(attempts) == 3

    def always_stale() -> None:
        raise failed

    with pytest.raises(failed):
        guide["retry_on_conflict"](always_stale, attempts=2, pause=0)


def _exercise_the_viewset(module: types.ModuleType) -> None:
    """The last DocumentViewSet of the DRF page, served as its router would."""
    router = DefaultRouter()
    router.register("documents", module.DocumentViewSet, basename="docs-document")
    module.urlpatterns = [path("drf/", include(router.urls))]  # type: ignore[attr-defined]
    clear_url_caches()
    client = Client()
    document = testapp_models.Document.objects.create(title="Draft")
    url = f"/drf/documents/{document.pk}/"
    etag = client.get(url).headers["ETag"]
    body = {"title": "Final", "body": ""}
    assert client.put(url, body, content_type="application/json").status_code == 428
    # precondition_actions: PATCH need not be conditional.
    response = client.patch(url, {"title": "Patched"}, content_type="application/json")
    assert response.status_code == 200
    assert response.headers["ETag"] != etag
    # The publish action requires If-Match for POST.
    assert client.post(f"{url}publish/").status_code == 428
    etag = response.headers["ETag"]
    assert client.post(f"{url}publish/", headers={"If-Match": etag}).status_code == 200
    assert client.post(f"{url}publish/", headers={"If-Match": etag}).status_code == 412


def _exercise_rename(module: types.ModuleType) -> None:
    """models.md's async rename(), with the current version and with a stale one."""
    document = testapp_models.Document.objects.create(title="Draft")
    stale = document.version_token
    async_to_sync(module.rename)(document.pk, "Renamed", document.version_token)
    assert testapp_models.Document.objects.get(pk=document.pk).title == "Renamed"
    with pytest.raises(VersionConflict):
        async_to_sync(module.rename)(document.pk, "Lost", stale)


def _run_the_pytest_examples(module: types.ModuleType) -> None:
    """testing.md's test functions, given the fixtures the plugin would give them."""
    from django_preconditions.testing import pytest_plugin

    fixtures = {
        name: getattr(pytest_plugin, name).__wrapped__()
        for name in ("preconditions_api_client", "assert_protected", "assert_all_protected")
    }
    tests = [value for name, value in vars(module).items() if name.startswith("test_")]
    assert len(tests) == 3
    for test in tests:
        test(**{name: fixtures[name] for name in inspect.signature(test).parameters})


EPILOGUES: dict[str, Callable[[types.ModuleType], None]] = {
    "testing.md": _run_the_pytest_examples,
    "clients.md": _exercise_the_client_guide,
    "rest_framework.md": _exercise_the_viewset,
    "models.md": _exercise_rename,
}


# -- settings ----------------------------------------------------------------------------------


def _as_installed(block: dict[str, Any]) -> dict[str, Any]:
    """``myapp`` in the docs is the test app, whose label is ``testapp``."""
    block = copy.deepcopy(block)
    for entry in block.get("VIEWS", {}).values():
        if isinstance(entry.get("model"), str):
            entry["model"] = entry["model"].replace("myapp.", "testapp.", 1)
    return block


@pytest.fixture
def corsheaders_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """``from corsheaders.defaults import default_headers`` where django-cors-headers is not
    installed: its default_headers, as system check W002 knows them."""
    try:
        import corsheaders.defaults  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        package = types.ModuleType("corsheaders")
        defaults = types.ModuleType("corsheaders.defaults")
        defaults.default_headers = _CORS_DEFAULT_ALLOW_HEADERS  # type: ignore[attr-defined]
        package.defaults = defaults  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "corsheaders", package)
        monkeypatch.setitem(sys.modules, "corsheaders.defaults", defaults)


def _settings_of(block: Block) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(compile(block.code, block.id, "exec"), namespace)
    return {name: value for name, value in namespace.items() if name.isupper()}


def _in_order(shown: list[str], full: list[str]) -> bool:
    return [item for item in full if item in shown] == list(shown)


def test_the_settings_reference_has_examples() -> None:
    settings_md = [
        block for block in blocks_of_kind(Kind.SETTINGS) if block.page.name == "settings.md"
    ]
    assert len(settings_md) >= 8


@pytest.mark.parametrize(
    "block",
    [
        block
        for block in blocks_of_kind(Kind.SETTINGS)
        if block.page.name not in EXAMPLE_PROJECT_PAGES
    ],
    ids=lambda block: block.id,
)
def test_every_settings_example_passes_the_system_checks(
    block: Block, corsheaders_defaults: None
) -> None:
    values = _settings_of(block)
    overrides: dict[str, Any] = {}
    for name, value in values.items():
        if name in ("INSTALLED_APPS", "MIDDLEWARE"):  # shown with "# ...": added to ours
            value = [TEST_APP if item == "myapp" else item for item in value]
            current = list(getattr(settings, name))
            merged = [*current, *(item for item in value if item not in current)]
            assert _in_order(value, merged), f"{block.id}: {name} must keep the order shown"
            if merged != current:
                overrides[name] = merged
        elif name == "PRECONDITIONS":
            overrides[name] = _as_installed(value)
        else:
            overrides[name] = value
    with override_settings(**overrides):
        for middleware in values.get("MIDDLEWARE", ()):
            import_string(middleware)
        if "REST_FRAMEWORK" in values:
            from rest_framework.settings import api_settings

            for key in values["REST_FRAMEWORK"]:
                getattr(api_settings, key)  # imports the dotted paths
        if any(name.startswith("CORS_") for name in values):
            # As if django-cors-headers were installed (changing INSTALLED_APPS through
            # override_settings would import it); the override's holder is discarded after.
            settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "corsheaders"]
            assert check_cors_headers() == []
        assert check_settings_block() == []
        # W004: the examples name the views of the project they describe, not ours. W007: an
        # example of the VIEWS map shows rules, not the MIDDLEWARE setting that runs them.
        ignored = {"preconditions.W004", "preconditions.W007"}
        assert [m for m in run_checks() if m.id not in ignored] == []


@pytest.mark.parametrize(
    "block",
    [block for block in blocks_of_kind(Kind.SETTINGS) if block.page.name in EXAMPLE_PROJECT_PAGES],
    ids=lambda block: block.id,
)
def test_the_example_projects_settings_are_shown_as_they_are(block: Block) -> None:
    """Its own system checks run when tests/test_example_project.py migrates it."""
    project = runpy.run_path(str(EXAMPLE_PROJECT_SETTINGS))
    for name, value in _settings_of(block).items():
        if name in ("INSTALLED_APPS", "MIDDLEWARE"):  # shown with "# ...": an excerpt
            assert _in_order(value, project[name]), f"{block.id}: {name}"
        else:
            assert value == project[name], f"{block.id}: {name}"


# -- real responses in docs/errors.md -------------------------------------------------------

BODY = json.dumps({"title": "Final"})


def _stale_if_match(client: Client, document: Any) -> HttpResponse:
    old = client.get(f"/documents/{document.pk}/").headers["ETag"]
    document.body = "Changed by somebody else"
    document.save()
    return client.put(
        f"/documents/{document.pk}/",
        BODY,
        content_type="application/json",
        headers={"If-Match": old},
    )


def _put(
    headers: dict[str, str] | None = None, pk: int | None = None
) -> Callable[[Client, Any], HttpResponse]:
    def request(client: Client, document: Any) -> HttpResponse:
        return client.put(
            f"/documents/{pk or document.pk}/",
            BODY,
            content_type="application/json",
            headers=headers or {},
        )

    return request


def _put_in(language: str) -> Callable[[Client, Any], HttpResponse]:
    """A PUT without precondition from a client asking for ``language``, with LocaleMiddleware."""

    def request(client: Client, document: Any) -> HttpResponse:
        middleware = ["django.middleware.locale.LocaleMiddleware", *settings.MIDDLEWARE]
        try:
            with override_settings(MIDDLEWARE=middleware):
                return _put({"Accept-Language": language})(client, document)
        finally:
            translation.deactivate()  # LocaleMiddleware leaves the language active

    return request


#: name → (PRECONDITIONS block, the request)
RESPONSES: dict[str, tuple[dict[str, Any], Callable[[Client, Any], HttpResponse]]] = {
    "problem-428": ({}, _put()),
    "problem-428-wildcard": ({}, _put({"If-Match": "*"})),
    "problem-412": ({}, _stale_if_match),
    "problem-400": ({}, _put({"If-Match": "v2"})),
    "problem-404": ({}, _put({"If-Match": '"v2"'}, pk=999)),
    "problem-428-documentation": (
        {"DOCUMENTATION_URL": "https://example.com/api/errors/"},
        _put(),
    ),
    "json-428": ({"ERROR_FORMAT": "json"}, _put()),
    "json-412": ({"ERROR_FORMAT": "json"}, _stale_if_match),
    "json-428-detailed": ({"ERROR_FORMAT": "json", "JSON_DETAILED_HEADERS": True}, _put()),
    "problem-428-fr": ({}, _put_in("fr")),
    "problem-428-de": ({}, _put_in("de")),
    "drf-428": ({"ERROR_FORMAT": "drf"}, _put()),
    "drf-412": ({"ERROR_FORMAT": "drf"}, _stale_if_match),
    "problem-412-no-etag-in-body": ({"INCLUDE_CURRENT_ETAG": False}, _stale_if_match),
}

_TOKEN = re.compile(r'"[A-Za-z0-9_-]{22}"')
_DATE = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")


def _normalised(value: Any) -> Any:
    """Version tokens and dates differ from run to run."""
    if isinstance(value, str):
        return _DATE.sub("<date>", _TOKEN.sub('"<token>"', value))
    if isinstance(value, (list, tuple)):
        return [_normalised(item) for item in value]
    if isinstance(value, dict):
        return {key: _normalised(item) for key, item in value.items()}
    return value


def real_response(name: str) -> HttpResponse:
    """Make the request behind the documented response ``name`` (needs the test database)."""
    block, request = RESPONSES[name]
    document = testapp_models.Document.objects.create(pk=1, title="Draft", body="Hello")
    with override_settings(ROOT_URLCONF=__name__, PRECONDITIONS=block):
        return request(Client(), document)


def as_http(response: HttpResponse) -> str:
    """The response as the docs show it (without Content-Length, which is noise)."""
    lines = [f"HTTP/1.1 {response.status_code} {response.reason_phrase}"]
    lines += [
        f"{name}: {value}"
        for name, value in response.headers.items()
        if name.lower() != "content-length"
    ]
    lines.append("")
    lines.append(json.dumps(json.loads(response.content), indent=2, ensure_ascii=False))
    return "\n".join(lines)


def _parse_http(text: str) -> tuple[str, dict[str, str], Any]:
    head, _, body = text.strip().partition("\n\n")
    status, *header_lines = head.splitlines()
    headers = dict(line.split(": ", 1) for line in header_lines)
    return status, headers, json.loads(body)


def _response_examples() -> list[tuple[str, Block]]:
    examples = []
    for block in ALL_BLOCKS:
        match = RESPONSE_MARK.fullmatch(block.marker)
        if match is not None:
            examples.append((match.group(1), block))
    return examples


def test_errors_md_shows_every_documented_response() -> None:
    names = [name for name, _block in _response_examples()]
    assert sorted(names) == sorted(RESPONSES)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "block"), _response_examples(), ids=lambda value: getattr(value, "id", value)
)
def test_documented_responses_are_real(name: str, block: Block) -> None:
    assert block.lang == "http"
    documented = _parse_http(block.code)
    actual = _parse_http(as_http(real_response(name)))
    assert _normalised(documented) == _normalised(actual)
