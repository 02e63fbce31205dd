from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from asgiref.sync import SyncToAsync
from django.db import connections

if TYPE_CHECKING:
    from tests.testapp.models import Document


@pytest.fixture(autouse=True)
def _close_connections_left_by_async_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    """Async tests reach the ORM through sync_to_async's worker thread; close the connections
    opened there, or PostgreSQL refuses to drop the test database at the end of the run."""
    yield
    if inspect.iscoroutinefunction(getattr(request.node, "function", None)):
        SyncToAsync.single_thread_executor.submit(connections.close_all).result()


# Hypothesis profiles: "ci" (default) runs enough examples to matter in every run; "fuzz"
# (`make fuzz`) many more. Examples are never stored in a database in the repository.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ci", max_examples=600, database=None)
_hypothesis_settings.register_profile("fuzz", max_examples=20_000, database=None)
_hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def document(db: None) -> Document:
    """One document, "Original" / "first draft" (modules that need other values override it)."""
    from tests.testapp.models import Document

    created: Document = Document.objects.create(title="Original", body="first draft")
    return created
