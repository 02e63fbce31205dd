"""What the real-browser tests share: Debian's chromium, its flags, and the rule that a
browser test may be skipped locally but never under CI."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Headless, and no background networking: this machine reaches no host but the registries.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RESULTS = Path(__file__).resolve().parents[2] / "test-results"  # screenshots; git-ignored


def require_browser(chromium: Path = CHROMIUM) -> None:
    """Skip (or, under CI, fail) with the reason when the browser cannot run here."""
    missing = []
    if importlib.util.find_spec("playwright") is None:
        missing.append("Playwright is not installed (pip install -e . --group test)")
    if not os.access(chromium, os.X_OK):
        missing.append(f"{chromium} is missing (apt-get install chromium, or `.ci/run`)")
    if not missing:
        return
    reason = "browser test not run: " + "; ".join(missing)
    if os.environ.get("CI"):
        pytest.fail(f"{reason}. CI must run the browser tests.", pytrace=False)
    pytest.skip(reason)
