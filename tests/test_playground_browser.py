"""The playground in a real browser: Playwright drives Debian's Chromium through each guided
scenario, the two editors and the request builder of ``/playground/``, against the example
project served as a subprocess (the session fixture ``example_server`` of ``tests/conftest.py``,
shared with ``tests/test_example_project.py``).

Without the ``playwright`` package or ``/usr/bin/chromium`` these tests are skipped — unless
the environment variable ``CI`` is set: CI must run them, so there they fail. Screenshots go to
``test-results/`` (ignored by git).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, RESULTS, require_browser
from tests.support.example_server import ExampleServer

pytestmark = pytest.mark.browser

TIMEOUT_MS = 15_000

_T = TypeVar("_T")


class Browser:
    """Playwright's sync API on one worker thread of its own.

    Playwright refuses to run in a thread with a running asyncio event loop (pytest-asyncio
    may leave one in the main thread), and its objects belong to the thread that created
    them: every call goes through :meth:`call`, on the same single thread.
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="playwright")
        self._playwright: Any = None
        self._browser: Any = None

    def call(self, function: Callable[[], _T]) -> _T:
        return self._executor.submit(function).result()

    def start(self) -> None:
        def launch() -> None:
            from playwright.sync_api import sync_playwright

            self._playwright = sync_playwright().start()
            self._browser = self._playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
            )

        self.call(launch)

    def stop(self) -> None:
        def close() -> None:
            if self._browser is not None:
                self._browser.close()
            if self._playwright is not None:
                self._playwright.stop()

        try:
            self.call(close)
        finally:
            self._executor.shutdown(wait=True)

    def new_page(self) -> Any:
        return self._browser.new_page()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    require_browser()
    browser = Browser()
    browser.start()
    try:
        yield browser
    finally:
        browser.stop()


class Playground:
    """The playground page, as a person sees it; every method runs on the browser thread."""

    def __init__(self, browser: Browser, server: ExampleServer, name: str) -> None:
        self.browser = browser
        self.server = server
        self.name = name
        self.page: Any = None
        self.errors: list[str] = []

    def __enter__(self) -> Playground:
        def open_page() -> None:
            page = self.browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.on("pageerror", lambda error: self.errors.append(str(error)))
            # Console errors other than the browser's note on each 4xx answer the page asks for.
            page.on(
                "console",
                lambda message: (
                    self.errors.append(message.text)
                    if message.type == "error"
                    and not message.text.startswith("Failed to load resource")
                    else None
                ),
            )
            page.on("requestfailed", lambda request: self.errors.append(f"{request.url} failed"))
            page.goto(f"{self.server.base_url}/playground/")
            page.wait_for_selector("body[data-ready='true']")
            self.page = page

        self.browser.call(open_page)
        return self

    def __exit__(self, *exc_info: object) -> None:
        def close() -> None:
            RESULTS.mkdir(exist_ok=True)
            self.page.screenshot(path=str(RESULTS / f"playground-{self.name}.png"), full_page=True)
            self.page.close()

        self.browser.call(close)

    def run(self, function: Callable[[Any], _T]) -> _T:
        return self.browser.call(lambda: function(self.page))

    def choose(self, endpoint: str, resource: str | None = None) -> None:
        def choose(page: Any) -> None:
            page.select_option("#target-endpoint", endpoint)
            if resource is not None:
                page.select_option("#target-id", resource)

        self.run(choose)

    def run_scenario(self, button: str) -> tuple[list[str], str, str]:
        """Click a scenario; its step statuses, conclusion text and outcome."""

        def run(page: Any) -> tuple[list[str], str, str]:
            page.click(button)
            page.wait_for_selector("#scenario[data-done]")
            statuses = page.locator("#scenario .exchange .status").all_inner_texts()
            conclusion = page.locator("#scenario .conclusion").inner_text()
            outcome = page.get_attribute("#scenario", "data-done")
            return statuses, conclusion, outcome

        return self.run(run)


def codes(statuses: list[str]) -> list[int]:
    return [int(status.split()[0]) for status in statuses]


@pytest.fixture
def playground(
    # browser first: without one the test is skipped before the example server starts.
    browser: Browser,
    example_server: ExampleServer,
    request: pytest.FixtureRequest,
) -> Iterator[Playground]:
    name = re.sub(r"[^\w-]+", "-", request.node.name).strip("-")
    with Playground(browser, example_server, name) as page:
        yield page
    assert page.errors == [], "the page logged JavaScript errors"


ENDPOINTS = ["api", "view", "notes"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_update_without_a_precondition_shows_428_then_200_and_the_replay_412(
    playground: Playground, endpoint: str
) -> None:
    playground.choose(endpoint)
    statuses, conclusion, outcome = playground.run_scenario("#run-no-precondition")
    assert statuses == ["428 Precondition Required", "200 OK", "200 OK"]
    assert outcome == "ok"
    assert conclusion.startswith("428 → 200")

    def replay_the_last_request(page: Any) -> tuple[str, str]:
        page.locator("#scenario .open-in-builder").last.click()
        headers = page.input_value("#headers")
        page.click("#send")
        page.wait_for_selector("#response-status[data-status]")
        return headers, page.inner_text("#response-status")

    headers, status = playground.run(replay_the_last_request)
    assert re.search(r'^If-Match: "[\w-]+"$', headers, flags=re.MULTILINE)
    assert status == "412 Precondition Failed"


@pytest.mark.parametrize("endpoint", ["api", "notes"])
def test_two_users_the_second_save_gets_412_and_reapplying_keeps_both_changes(
    playground: Playground, endpoint: str
) -> None:
    playground.choose(endpoint)
    statuses, conclusion, outcome = playground.run_scenario("#run-two-users")
    assert codes(statuses) == [200, 200, 200, 412]  # Alice loads, Bob loads, Alice, Bob saves
    assert outcome == "ok"
    assert "Reload and re-apply my changes" in conclusion

    def editors(page: Any) -> dict[str, Any]:
        bob = page.locator("#editor-bob")
        return {
            "alice": page.locator("#editor-alice .editor-status").inner_text(),
            "bob": bob.locator(".editor-status").inner_text(),
            "conflict": bob.locator(".conflict-box").inner_text(),
            "conflict_visible": bob.locator(".conflict-box").is_visible(),
        }

    shown = playground.run(editors)
    assert shown["alice"].startswith("Saved: 200 OK")
    assert shown["bob"] == "Not saved: 412 Precondition Failed."
    assert shown["conflict_visible"]
    assert "412 Precondition Failed" in shown["conflict"]
    assert "re-apply" in shown["conflict"]

    def reapply_and_save(page: Any) -> dict[str, Any]:
        bob = page.locator("#editor-bob")
        bob.locator("button.reapply").click()
        page.wait_for_selector("#editor-bob .editor-status[data-status='200']")
        after_reload = bob.locator(".editor-status").inner_text()
        conflict_hidden = bob.locator(".conflict-box").is_hidden()
        bob.locator("button.save").click()
        page.wait_for_selector("#editor-bob .editor-status.ok")
        fields = {
            name: bob.locator(f"[name='{name}']").input_value()
            for name in ("title", "body", "text")
            if bob.locator(f"[name='{name}']").count()
        }
        return {
            "after_reload": after_reload,
            "conflict_hidden": conflict_hidden,
            "saved": bob.locator(".editor-status").inner_text(),
            "fields": fields,
            "steps": page.locator("#scenario .exchange .status").all_inner_texts(),
        }

    result = playground.run(reapply_and_save)
    assert result["after_reload"].startswith("Reloaded version")
    assert "re-applied your change" in result["after_reload"]
    assert result["conflict_hidden"]
    assert result["saved"].startswith("Saved: 200 OK")
    assert codes(result["steps"])[-2:] == [200, 200]  # Bob's reload, Bob's save
    fields = result["fields"]
    if endpoint == "api":  # Alice changed the title, Bob the body: both are kept
        assert "(edited by Alice at " in fields["title"]
        assert "(edited by Bob at " in fields["body"]
    else:  # one field, changed by both: Bob's re-applied text wins, and he was told
        assert "(edited by Bob at " in fields["text"]
        assert "Both of you changed text" in result["after_reload"]


@pytest.mark.parametrize("endpoint", ["api", "notes"])
def test_conditional_get_shows_304_for_an_unchanged_resource(
    playground: Playground, endpoint: str
) -> None:
    playground.choose(endpoint)
    statuses, conclusion, outcome = playground.run_scenario("#run-conditional-get")
    assert codes(statuses) == [200, 304, 200, 200]
    assert statuses[1] == "304 Not Modified"
    assert outcome == "ok"
    assert conclusion.startswith("200 → 304 → 200")


def test_create_only_shows_201_then_412(playground: Playground) -> None:
    statuses, conclusion, outcome = playground.run_scenario("#run-create-only")
    assert statuses == ["201 Created", "412 Precondition Failed"]
    assert outcome == "ok"
    assert conclusion == "201 → 412: create-only never overwrites."

    def created_is_offered_as_a_target(page: Any) -> list[str]:
        return page.locator("#target-id option").all_inner_texts()

    assert any(
        "Created by PUT" in option for option in playground.run(created_is_offered_as_a_target)
    )


@pytest.mark.parametrize("endpoint", ["api", "view"])
def test_automatic_retry_rereads_and_reapplies_after_412(
    playground: Playground, endpoint: str
) -> None:
    playground.choose(endpoint)
    statuses, conclusion, outcome = playground.run_scenario("#run-retry")
    # read, the other user's save, the stale write, the re-read, the write
    assert codes(statuses) == [200, 200, 412, 200, 200]
    assert outcome == "ok", conclusion
    assert "both changes" in conclusion


def test_the_request_builder_copies_the_etag_from_a_get_into_if_match(
    playground: Playground,
) -> None:
    def by_hand(page: Any) -> dict[str, str]:
        shown: dict[str, str] = {}

        def send() -> str:
            page.evaluate(
                "document.querySelector('#response-status').removeAttribute('data-status')"
            )
            page.click("#send")
            page.wait_for_selector("#response-status[data-status]")
            return str(page.inner_text("#response-status"))

        page.select_option("#method", "PUT")
        page.fill("#path", "/documents/2/")
        page.fill("#body", '{"title": "Typed in the builder", "body": ""}')
        shown["put"] = send()
        page.select_option("#method", "GET")
        shown["get"] = send()
        shown["etag"] = str(page.inner_text("#response-headers"))
        page.click("#use-if-match")
        shown["headers"] = page.input_value("#headers")
        page.select_option("#method", "PUT")
        shown["put_again"] = send()
        shown["body"] = str(page.inner_text("#response-body"))
        return shown

    shown = playground.run(by_hand)
    assert shown["put"] == "428 Precondition Required"
    assert shown["get"] == "200 OK"
    etag = re.search(r'^etag: ("[\w-]+")$', shown["etag"], flags=re.MULTILINE | re.IGNORECASE)
    assert etag
    assert f"If-Match: {etag.group(1)}" in shown["headers"].splitlines()
    assert shown["put_again"] == "200 OK"
    assert '"title": "Typed in the builder"' in shown["body"]


def test_a_conflict_box_does_not_outlive_its_scenario(playground: Playground) -> None:
    playground.choose("api")
    statuses, _conclusion, _outcome = playground.run_scenario("#run-two-users")
    assert codes(statuses)[-1] == 412

    def bobs_conflict_box_is_visible(page: Any) -> bool:
        return bool(page.locator("#editor-bob .conflict-box").is_visible())

    assert playground.run(bobs_conflict_box_is_visible)
    statuses, _conclusion, outcome = playground.run_scenario("#run-conditional-get")
    assert outcome == "ok"
    assert not playground.run(bobs_conflict_box_is_visible)


def test_reset_demo_data_puts_the_demo_documents_back(playground: Playground) -> None:
    """Scenarios change the documents for real; the reset button restores the demo ones."""
    playground.choose("api", "1")
    playground.run_scenario("#run-no-precondition")  # edits document 1

    def reset(page: Any) -> list[str]:
        page.click("#reset-demo-data")
        page.wait_for_selector("body[data-ready='true']")
        page.select_option("#target-endpoint", "api")
        return page.locator("#target-id option").all_inner_texts()

    options = playground.run(reset)
    assert options[:3] == ["1 — Meeting notes", "2 — Release checklist", "3 — Style guide"]
    title = playground.run(
        lambda page: page.evaluate(
            "fetch('/api/documents/1/', {headers: {Accept: 'application/json'}})"
            ".then((r) => r.json()).then((d) => d.title)"
        )
    )
    assert title == "Meeting notes"
