"""The pytest plugin (entry point ``pytest11``): django-preconditions' testing support as
fixtures. Nothing is imported from Django until a fixture is used, so the plugin is harmless
in projects that never ask for it.

- ``preconditions_client`` / ``async_preconditions_client``: :class:`PreconditionsClient`
  and its async variant;
- ``preconditions_api_client``: the DRF variant (the test is skipped without DRF);
- ``assert_protected``: :func:`~django_preconditions.testing.assert_protected`;
- ``assert_all_protected``: :func:`~django_preconditions.testing.assert_all_protected`, the
  protection audit as a test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def preconditions_client() -> Any:
    """A Django test client that sends each URL's last ``ETag`` as ``If-Match``."""
    from django_preconditions.testing import PreconditionsClient

    return PreconditionsClient()


@pytest.fixture
def async_preconditions_client() -> Any:
    """The async variant of ``preconditions_client``."""
    from django_preconditions.testing import AsyncPreconditionsClient

    return AsyncPreconditionsClient()


@pytest.fixture
def preconditions_api_client() -> Any:
    """DRF's ``APIClient`` that sends each URL's last ``ETag`` as ``If-Match``."""
    pytest.importorskip("rest_framework")
    from django_preconditions.testing import preconditions_api_client_class

    return preconditions_api_client_class()()


@pytest.fixture
def assert_protected() -> Callable[..., Any]:
    """``assert_protected(client, url, method, data=...)``: an endpoint's whole contract."""
    from django_preconditions.testing import assert_protected

    return assert_protected


@pytest.fixture
def assert_all_protected() -> Callable[..., None]:
    """``assert_all_protected(allow=[...])``: no unprotected unsafe endpoint in the URLconf."""
    from django_preconditions.testing import assert_all_protected

    return assert_all_protected
