"""Test clients that remember each URL's ``ETag`` and send it as ``If-Match`` on writes.

An existing suite of plain ``client.put(...)`` calls keeps passing once the endpoints require
preconditions: only the client class changes. DRF's variant is built on first use, so this
module never imports DRF unless it is asked for.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from django.http.response import HttpResponseBase
from django.test import AsyncClient, Client

from ..conditions import IF_MATCH, IF_NONE_MATCH, IF_UNMODIFIED_SINCE
from ..headers import ETAG, LOCATION, meta_key

if TYPE_CHECKING:
    from rest_framework.test import APIClient

__all__ = [
    "AsyncPreconditionsClient",
    "PreconditionsClient",
    "PreconditionsClientMixin",
    "preconditions_api_client_class",
    "url_key",
]

#: Methods to which the clients add ``If-Match``.
WRITE_METHODS: Final = frozenset({"PUT", "PATCH", "DELETE"})
#: A call that sets one of these itself is sent as given (as ``headers=`` or as ``**extra``).
_OWN_PRECONDITIONS: Final = (IF_MATCH, IF_NONE_MATCH, IF_UNMODIFIED_SINCE)
_CONDITIONAL_EXTRAS: Final = frozenset(meta_key(name) for name in _OWN_PRECONDITIONS)
_CONDITIONAL_NAMES: Final = frozenset(name.lower() for name in _OWN_PRECONDITIONS)
#: ``**extra`` keys not forwarded to the GET that fetches a missing ``ETag``.
_NOT_FOR_FETCH: Final = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH", "QUERY_STRING", "data"})


def url_key(path: str, query: str | Mapping[str, Any] | None = None) -> str:
    """The key under which an ``ETag`` is remembered: the decoded path (scheme and host
    dropped) and the query parameters in sorted order."""
    parts = urllib.parse.urlsplit(path)
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    if isinstance(query, str):
        pairs += urllib.parse.parse_qsl(query, keep_blank_values=True)
    elif query:
        for name, value in query.items():
            values = value if isinstance(value, (list, tuple)) else [value]
            pairs += [(str(name), str(item)) for item in values]
    decoded = urllib.parse.unquote(parts.path) or "/"
    return f"{decoded}?{urllib.parse.urlencode(sorted(pairs))}" if pairs else decoded


class PreconditionsClientMixin:
    """The ``ETag`` memory shared by the clients (sync, async, DRF).

    Per call, ``preconditions=False`` sends the request exactly as given; a call that sets
    ``If-Match``, ``If-None-Match`` or ``If-Unmodified-Since`` itself is never changed.
    """

    #: Fetch the ``ETag`` with a GET to the same URL when none is remembered for it (e.g. the
    #: test created the row with the ORM). ``False`` sends the write without ``If-Match``.
    fetch_missing_etags: bool = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: ``url_key`` → the last ``ETag`` header received for that URL.
        self.etags: dict[str, str] = {}

    def forget_etags(self) -> None:
        """Forget every remembered ``ETag`` (e.g. after changing rows with the ORM)."""
        self.etags.clear()

    def etag_for(self, path: str, query: str | Mapping[str, Any] | None = None) -> str | None:
        """The ``ETag`` remembered for ``path`` (and query), if any."""
        return self.etags.get(url_key(path, query))

    # -- the parts the sync and async clients share --

    def _plan(self, method: str, path: str, kwargs: dict[str, Any]) -> str | None:
        """Pop our keyword; the key to add ``If-Match`` for, or ``None`` to send as given."""
        wanted = kwargs.pop("preconditions", True)
        if not wanted or method.upper() not in WRITE_METHODS:
            return None
        headers = kwargs.get("headers") or {}
        if any(name in kwargs for name in _CONDITIONAL_EXTRAS) or any(
            str(name).lower() in _CONDITIONAL_NAMES for name in headers
        ):
            return None
        return url_key(path, kwargs.get("query_params"))

    def _fetch_kwargs(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Keyword arguments for the GET that learns a missing ``ETag``: the same headers,
        credentials and ``secure`` flag, no body."""
        fetch = {key: value for key, value in kwargs.items() if key not in _NOT_FOR_FETCH}
        fetch.pop("content_type", None)
        if len(args) > 2:  # generic(method, path, data, content_type, secure, ...)
            fetch["secure"] = args[2]
        return fetch

    def _send(
        self,
        send: Callable[..., Any],
        method: str,
        path: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """``generic()`` of the sync clients: ``send`` is the parent class's."""
        key = self._plan(method, path, kwargs)
        if key is not None:
            etag = self.etags.get(key)
            if etag is None and self.fetch_missing_etags:
                self._remember("GET", send("GET", path, **self._fetch_kwargs(args, kwargs)))
                etag = self.etags.get(key)
            _add_if_match(kwargs, etag)
        response = send(method, path, *args, **kwargs)
        self._remember(method, response)
        return response

    def _remember(self, method: str, response: HttpResponseBase) -> None:
        environ = getattr(response, "request", None) or {}  # WSGI environ or ASGI scope
        path = environ.get("PATH_INFO", environ.get("path", ""))
        query = environ.get("QUERY_STRING", environ.get("query_string", ""))
        key = url_key(
            str(path), query.decode("latin-1") if isinstance(query, bytes) else str(query)
        )
        etag = response.headers.get(ETAG)
        if method.upper() == "DELETE" and 200 <= response.status_code < 300:
            self.etags.pop(key, None)
        elif etag:
            self.etags[key] = etag
        location = response.headers.get(LOCATION)
        if etag and location and response.status_code == 201:
            self.etags[url_key(location)] = etag


def _add_if_match(kwargs: dict[str, Any], etag: str | None) -> None:
    """Through ``headers=`` (Django 4.2+), which the WSGI, ASGI and DRF clients all read."""
    if etag:
        kwargs["headers"] = {**(kwargs.get("headers") or {}), IF_MATCH: etag}


class PreconditionsClient(PreconditionsClientMixin, Client):
    """Django's test ``Client`` that sends the remembered ``ETag`` as ``If-Match`` on
    PUT, PATCH and DELETE (``client.put(url, data, preconditions=False)`` to opt out)."""

    def generic(self, method: str, path: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return self._send(super().generic, method, path, args, kwargs)


class AsyncPreconditionsClient(PreconditionsClientMixin, AsyncClient):
    """The async variant of :class:`PreconditionsClient` (``await client.put(...)``)."""

    async def generic(self, method: str, path: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        key = self._plan(method, path, kwargs)
        if key is not None:
            etag = self.etags.get(key)
            if etag is None and self.fetch_missing_etags:
                fetched = await super().generic("GET", path, **self._fetch_kwargs(args, kwargs))
                self._remember("GET", fetched)
                etag = self.etags.get(key)
            _add_if_match(kwargs, etag)
        response = await super().generic(method, path, *args, **kwargs)
        self._remember(method, response)
        return response


_api_client_class: type[APIClient] | None = None


def preconditions_api_client_class() -> type[APIClient]:
    """DRF's ``APIClient`` with the same ``ETag`` memory (DRF is imported here, and only
    here, so this module works without it)."""
    global _api_client_class
    if _api_client_class is None:
        from rest_framework.test import APIClient

        class PreconditionsAPIClient(PreconditionsClientMixin, APIClient):
            """DRF's ``APIClient`` that sends the remembered ``ETag`` as ``If-Match``."""

            def generic(self, method: str, path: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
                return self._send(super().generic, method, path, args, kwargs)

        PreconditionsAPIClient.__module__ = __name__
        _api_client_class = PreconditionsAPIClient
    return _api_client_class
