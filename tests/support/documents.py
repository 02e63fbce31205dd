"""Helpers over the test app's documents shared by the HTTP-level test modules."""

from __future__ import annotations

import datetime
from typing import Any

from django_preconditions.models import VersionedQuerySet
from tests.testapp.models import Document

#: A sub-second modification time in the past, and the HTTP-date it is served as.
STORED_AT = datetime.datetime(2025, 7, 1, 12, 0, 0, 700000, tzinfo=datetime.timezone.utc)
STORED_AT_HTTP = "Tue, 01 Jul 2025 12:00:00 GMT"


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


def settle(document: Document) -> None:
    """Move the document's last write two seconds back: its second has then settled and is
    served as Last-Modified (rule 24; rules 22 and 28 hold from then on)."""
    earlier = document.last_modified - datetime.timedelta(seconds=2)
    queryset = Document.objects.filter(pk=document.pk)
    assert isinstance(queryset, VersionedQuerySet)
    queryset.update_without_bump(last_modified=earlier)


def backdate(pk: int) -> None:
    """Store ``STORED_AT`` (sub-second, in the past) as the document's modification time."""
    queryset = Document.objects.filter(pk=pk)
    assert isinstance(queryset, VersionedQuerySet)
    queryset.update_without_bump(last_modified=STORED_AT)
