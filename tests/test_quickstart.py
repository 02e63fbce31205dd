"""docs/quickstart.md, followed to the letter: a fresh ``startproject`` built from the page's
own code blocks (see tests/support/quickstart_project.py for the annotations), served by ``runserver``
on 127.0.0.1, and every ``curl`` on the page answering as documented: 428 without a
precondition (rule 1), 412 with a stale ``If-Match`` and the current ``ETag`` (rule 2), 304 on a
matching ``If-None-Match``, the new ``ETag`` after each write, for all four ways of use."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.support.quickstart_project import QUICKSTART, blocks, build_and_check, commands


def test_the_quickstart_covers_the_four_ways_of_use_and_runs_its_curls() -> None:
    page = QUICKSTART.read_text(encoding="utf-8")
    for needle in (
        "@require_preconditions(Document)",
        "PreconditionMixin, viewsets.ModelViewSet",
        '"django_preconditions.middleware.PreconditionMiddleware"',
        "ProtectedEndpoint",
        "csrf_exempt",
        "SessionAuthentication",
    ):
        assert needle in page
    curls = [
        command
        for block in blocks()
        if block.lang == "console"
        for command in commands(block)
        if command.text.startswith("curl")
    ]
    assert len(curls) >= 11
    assert all(command.output.startswith("HTTP/1.1 ") for command in curls)


def test_a_new_project_built_from_the_quickstart_answers_as_documented(tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        if os.environ.get("CI"):
            pytest.fail("curl is not installed")
        pytest.skip("curl is not installed")
    transcript = build_and_check(Path(sys.executable), tmp_path)
    assert any("runserver on 127.0.0.1:" in entry for entry in transcript)
    assert sum("curl -i" in entry for entry in transcript) >= 11
