"""Helpers over the test app's documents shared by the HTTP-level test modules."""

from __future__ import annotations

from typing import Any

from tests.testapp.models import Document


def state(pk: int) -> tuple[Any, ...] | None:
    """The stored row (``None`` when absent), to prove "no change"."""
    row = (
        Document.objects.filter(pk=pk)
        .values_list("title", "body", "counter", "version_token", "last_modified")
        .first()
    )
    return tuple(row) if row is not None else None


def make_stale(document: Document) -> str:
    """Change ``document`` behind the client's back; return the ETag the client still has."""
    old = document.etag
    document.title = "changed elsewhere"
    document.save()
    return old
