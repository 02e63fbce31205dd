"""A real browser against a real server: two admins edit one document at the same time.

Playwright drives Debian's chromium (``/usr/bin/chromium``; never a downloaded browser)
against pytest-django's ``live_server``. The second save must show the conflict and keep the
second editor's input; applying it again then saves it. Without chromium or Playwright the
test is skipped with the reason — except under ``CI``, which must run it (``.ci/run``
installs chromium). A screenshot of the conflict goes to ``test-results/`` (git-ignored).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, RESULTS, require_browser
from tests.testapp.models import Document

PASSWORD = "not-a-secret-pw"
TIMEOUT_MS = 20_000

_T = TypeVar("_T")


def in_own_thread(function: Callable[[], _T]) -> _T:
    """Playwright's sync API refuses to run where an asyncio loop is running (pytest-asyncio
    may leave one in this thread); a worker thread has none."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function).result()


def serve_static(route: Any) -> None:
    """The test settings install no staticfiles app: hand the browser the admin's CSS and
    JavaScript straight from the apps' static folders (for a readable screenshot)."""
    from django.contrib.staticfiles import finders

    found = finders.find(urlsplit(route.request.url).path.removeprefix("/static/"))
    if isinstance(found, str):
        route.fulfill(path=found)
    else:
        route.abort()


def two_editors(base_url: str, change_path: str) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    seen: dict[str, Any] = {}
    with (
        sync_playwright() as playwright,
        tempfile.TemporaryDirectory(prefix="chromium-alice-") as alice_profile,
        tempfile.TemporaryDirectory(prefix="chromium-bob-") as bob_profile,
    ):

        def editor(profile: str, username: str) -> Any:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=str(CHROMIUM),
                headless=True,
                args=CHROMIUM_ARGS,
            )
            context.set_default_timeout(TIMEOUT_MS)
            context.route("**/static/**", serve_static)
            page = context.new_page()
            page.goto(f"{base_url}/admin/login/?next={change_path}")
            page.fill("#id_username", username)
            page.fill("#id_password", PASSWORD)
            with page.expect_navigation():
                page.click("input[type=submit]")
            assert page.url == f"{base_url}{change_path}", page.url
            return context, page

        alice_context, alice = editor(alice_profile, "alice")
        bob_context, bob = editor(bob_profile, "bob")
        try:
            # Both have the form open; Alice saves first.
            alice.fill("#id_title", "Alice's title")
            with alice.expect_navigation():
                alice.click("input[name=_save]")
            seen["alice_messages"] = alice.inner_text("ul.messagelist")

            # Bob saves the form he opened before Alice's change.
            bob.fill("#id_title", "Bob's title")
            with bob.expect_navigation():
                bob.click("input[name=_save]")
            conflict = bob.locator("#preconditions-conflict")
            conflict.wait_for(state="visible")
            seen["conflict_text"] = conflict.inner_text()
            seen["errors_text"] = bob.inner_text("#content-main")
            seen["bob_title_after_conflict"] = bob.input_value("#id_title")
            RESULTS.mkdir(exist_ok=True)
            screenshot = RESULTS / "admin-conflict.png"
            bob.screenshot(path=str(screenshot), full_page=True)
            seen["screenshot"] = screenshot

            # Bob applies his input to the current version.
            with bob.expect_navigation():
                bob.click("#preconditions-conflict input[name=_continue]")
            seen["bob_messages"] = bob.inner_text("ul.messagelist")
        finally:
            alice_context.close()
            bob_context.close()
    return seen


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_second_admin_saving_a_stale_form_sees_the_conflict_and_keeps_the_input(
    live_server: Any, django_user_model: Any
) -> None:
    require_browser()
    for name in ("alice", "bob"):
        django_user_model.objects.create_superuser(name, f"{name}@example.com", PASSWORD)
    document = Document.objects.create(title="Original title", body="text")
    change_path = f"/admin/testapp/document/{document.pk}/change/"

    seen = in_own_thread(lambda: two_editors(live_server.url, change_path))

    assert "was changed successfully" in seen["alice_messages"]
    # Said once on screen: the error above the form, not again in the box or Django's note.
    assert seen["errors_text"].lower().count("changed by alice") == 1
    assert "Please correct the error below" not in seen["errors_text"]
    assert "Original title" in seen["conflict_text"]  # when Bob opened the form
    assert "Alice's title" in seen["conflict_text"]  # now
    assert "nothing was saved" in seen["errors_text"]
    assert seen["bob_title_after_conflict"] == "Bob's title"  # his input is kept
    assert seen["screenshot"].stat().st_size > 0
    assert "was changed successfully" in seen["bob_messages"]
    document.refresh_from_db()
    assert document.title == "Bob's title"  # applied deliberately, after seeing the conflict


def test_without_chromium_the_browser_test_is_skipped_with_the_reason_but_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    absent = Path("/nonexistent/chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="/nonexistent/chromium is missing"):
        require_browser(absent)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the browser tests"):
        require_browser(absent)
