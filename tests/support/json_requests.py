"""Requests with a JSON body (or raw bytes) through Django's test clients, sync or async."""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import async_to_sync

JSON = "application/json"


def payload(body: Any, raw: bytes | None = None) -> bytes:
    """``raw`` as given, else ``body`` as JSON; no body at all when both are ``None``."""
    if raw is not None:
        return raw
    return b"" if body is None else json.dumps(body).encode()


def send(
    client: Any,
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> Any:
    """A request with a JSON body (or ``raw`` bytes) and the given headers."""
    return client.generic(method, url, payload(body, raw), content_type=JSON, headers=headers or {})


def asend(
    async_client: Any,
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> Any:
    """:func:`send` through the ASGI handler, from a synchronous test."""

    async def request() -> Any:
        return await send(async_client, method, url, body, headers, raw)  # a coroutine here

    return async_to_sync(request)()
