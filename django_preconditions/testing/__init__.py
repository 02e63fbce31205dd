"""Testing support for projects that adopt preconditions (see docs/testing.md).

- :class:`PreconditionsClient`, :class:`AsyncPreconditionsClient` and, with DRF,
  ``PreconditionsAPIClient``: test clients that remember each URL's ``ETag`` and send it as
  ``If-Match`` on PUT, PATCH and DELETE.
- :func:`assert_protected`: an endpoint's whole contract (428, 412, 2xx, 304) in one call.
- :func:`assert_all_protected`: the protection audit as a test.

The pytest plugin (``django_preconditions.testing.pytest_plugin``, loaded through the
``pytest11`` entry point) offers them as fixtures.
"""

from __future__ import annotations

from typing import Any

from .assertions import STALE_ETAG, assert_all_protected, assert_protected
from .clients import (
    AsyncPreconditionsClient,
    PreconditionsClient,
    PreconditionsClientMixin,
    preconditions_api_client_class,
    url_key,
)

__all__ = [
    "STALE_ETAG",
    "AsyncPreconditionsClient",
    "PreconditionsAPIClient",
    "PreconditionsClient",
    "PreconditionsClientMixin",
    "assert_all_protected",
    "assert_protected",
    "preconditions_api_client_class",
    "url_key",
]


def __getattr__(name: str) -> Any:
    """``PreconditionsAPIClient`` is built (and DRF imported) on first access."""
    if name == "PreconditionsAPIClient":
        return preconditions_api_client_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
