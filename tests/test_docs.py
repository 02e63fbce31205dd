"""The documentation cannot drift from the code.

- Every ```python block in docs/*.md and README.md must compile.
- Blocks preceded by the line ``<!-- run -->`` are executed, in page order, in one namespace
  per page (like a doctest session) against the test database. In those blocks ``myapp`` is
  the test app (``myapp.models.Document`` is ``tests.testapp.models.Document``) and the URL
  ``/documents/<pk>/`` is served by a ``require_preconditions`` view until a block defines
  its own ``urlpatterns``.
- Every ``PRECONDITIONS = {...}`` example in docs/settings.md passes the system checks.
- Every ```http block in docs/errors.md preceded by ``<!-- response: <name> -->`` is a real
  response: the request named in ``RESPONSES`` is made and its status, headers and JSON body
  must equal the documented ones (version tokens and dates aside).
"""

from __future__ import annotations

import copy
import json
import re
import sys
import textwrap
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.http import HttpResponse
from django.test import Client, override_settings
from django.urls import clear_url_caches, path

from django_preconditions import signals
from django_preconditions.checks import check_settings_block
from django_preconditions.rules import invalidate_rules
from tests.testapp import models as testapp_models
from tests.testapp import views as testapp_views

ROOT = Path(__file__).resolve().parent.parent
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
RUN_MARK = "<!-- run -->"
RESPONSE_MARK = re.compile(r"<!-- response: ([\w-]+) -->")
FENCE_START = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*$")

# The URL configuration the executed examples start with (the quickstart's URL).
urlpatterns = [
    path(
        "documents/<int:pk>/",
        testapp_views.document_detail_reusing_instance,
        name="document-detail",
    ),
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
RUN_PAGES = sorted({block.page for block in PYTHON_BLOCKS if block.marker == RUN_MARK})


def test_the_documentation_has_python_examples_and_runs_the_core_ones() -> None:
    assert len(PYTHON_BLOCKS) > 20
    run_pages = {page.name for page in RUN_PAGES}
    assert {"quickstart.md", "models.md", "views.md", "errors.md", "README.md"} <= run_pages


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda block: block.id)
def test_every_python_example_compiles(block: Block) -> None:
    compile(block.code, block.id, "exec")


@pytest.mark.django_db
@pytest.mark.parametrize("page", RUN_PAGES, ids=lambda page: page.name)
def test_the_marked_examples_of_a_page_run(page: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module_name = f"tests._docs_{page.stem.replace('-', '_')}"
    module = types.ModuleType(module_name)
    module.urlpatterns = list(urlpatterns)  # type: ignore[attr-defined]
    myapp = types.ModuleType("myapp")
    myapp.models = testapp_models  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module_name, module)
    monkeypatch.setitem(sys.modules, "myapp", myapp)
    monkeypatch.setitem(sys.modules, "myapp.models", testapp_models)
    # Receivers the examples connect are dropped after the page.
    for signal in (signals.precondition_failed, signals.precondition_required):
        monkeypatch.setattr(signal, "receivers", list(signal.receivers))
    blocks = [block for block in fenced_blocks(page) if block.lang == "python"]
    invalidate_rules()  # admin rules cached by earlier tests must not apply here
    try:
        with override_settings(ROOT_URLCONF=module_name):
            for block in blocks:
                if block.marker == RUN_MARK:
                    clear_url_caches()
                    exec(compile(block.code, block.id, "exec"), module.__dict__)
    finally:
        clear_url_caches()
        invalidate_rules()


# -- settings examples --------------------------------------------------------------------


def _settings_examples() -> list[Block]:
    return [
        block
        for block in PYTHON_BLOCKS
        if block.page.name == "settings.md" and "PRECONDITIONS = " in block.code
    ]


def _as_installed(block: dict[str, Any]) -> dict[str, Any]:
    """``myapp`` in the docs is the test app, whose label is ``testapp``."""
    block = copy.deepcopy(block)
    for entry in block.get("VIEWS", {}).values():
        if isinstance(entry.get("model"), str):
            entry["model"] = entry["model"].replace("myapp.", "testapp.", 1)
    return block


def test_the_settings_reference_has_examples() -> None:
    assert len(_settings_examples()) >= 8


@pytest.mark.parametrize("block", _settings_examples(), ids=lambda block: block.id)
def test_every_settings_example_passes_the_system_checks(block: Block) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(block.code, block.id, "exec"), namespace)
    with override_settings(PRECONDITIONS=_as_installed(namespace["PRECONDITIONS"])):
        assert check_settings_block() == []


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
