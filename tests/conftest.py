from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest
from asgiref.sync import SyncToAsync
from django.db import connections


@pytest.fixture(autouse=True)
def _close_connections_left_by_async_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    """Async tests reach the ORM through sync_to_async's worker thread; close the connections
    opened there, or PostgreSQL refuses to drop the test database at the end of the run."""
    yield
    if inspect.iscoroutinefunction(getattr(request.node, "function", None)):
        SyncToAsync.single_thread_executor.submit(connections.close_all).result()
