"""The suite's fixtures, one per concept. Helper functions and the test URLconfs live in
``tests/support/``; a module that needs other values asks for them in the test, not with a
fixture of the same name."""

from __future__ import annotations

import inspect
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from asgiref.sync import SyncToAsync
from django.db import connections
from hypothesis import settings as hypothesis_settings

from django_preconditions.rules import invalidate_rules
from tests.support.example_server import ExampleServer
from tests.support.isolated import atomic_requests_on

if TYPE_CHECKING:
    from tests.testapp.models import Document

# Hypothesis profiles: "ci" (default) runs enough examples to matter in every run; "fuzz"
# (`make fuzz`) many more. Examples are never stored in a database in the repository.
hypothesis_settings.register_profile("ci", max_examples=600, database=None)
hypothesis_settings.register_profile("fuzz", max_examples=20_000, database=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _close_connections_left_by_async_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    """Async tests reach the ORM through sync_to_async's worker thread; close the connections
    opened there, or PostgreSQL refuses to drop the test database at the end of the run."""
    yield
    if inspect.iscoroutinefunction(getattr(request.node, "function", None)):
        SyncToAsync.single_thread_executor.submit(connections.close_all).result()


@pytest.fixture(autouse=True)
def _fresh_rules() -> Iterator[None]:
    """Admin rules are cached per process; rows other tests rolled back must not linger."""
    invalidate_rules()
    yield
    invalidate_rules()


@pytest.fixture
def document(db: None) -> Document:
    """One document, "draft" / "text"."""
    from tests.testapp.models import Document

    created: Document = Document.objects.create(title="draft", body="text")
    return created


@pytest.fixture
def alice(django_user_model: Any) -> Any:
    """A user (not staff): the owner in the tests of rule 13."""
    return django_user_model.objects.create_user("alice", password="pw")


@pytest.fixture
def bob(django_user_model: Any) -> Any:
    """A second user, who may not see alice's documents."""
    return django_user_model.objects.create_user("bob", password="pw")


@pytest.fixture
def atomic_requests(request: pytest.FixtureRequest) -> Iterator[bool]:
    """``ATOMIC_REQUESTS`` for the default database (seen by every thread's connection): on,
    or the value of an indirect parametrisation (``[False, True]`` runs both modes)."""
    with atomic_requests_on("default", getattr(request, "param", True)) as value:
        yield value


@pytest.fixture(scope="session")
def example_server() -> Iterator[ExampleServer]:
    """The example project under ``runserver``, started on first use and shared by the session
    (``test_example_project.py`` and the playground's browser tests)."""
    with tempfile.TemporaryDirectory(prefix="preconditions-example-") as directory:
        server = ExampleServer(Path(directory))
        try:
            server.start()
            yield server
        finally:
            server.stop()
