"""``PlainDoc``: the baseline, what a user has *before* adopting the app: a plain
``models.Model`` with the same fields as ``Doc``.
``Doc``: the same document as a ``VersionedModel`` (``version_token`` + ``last_modified``).
``TokenDoc``: the same document as a ``VersionedModel`` without ``last_modified`` (the token
alone).
``ConcDoc``: the same document with django-concurrency's ``IntegerVersionField``.
``Wide``: 200 fields, generated, for the large-representation benchmark.

No migrations: ``migrate --run-syncdb`` creates the tables (the benchmark databases are
throw-away).
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from concurrency.fields import IntegerVersionField
from django.db import models

from django_preconditions.models import VersionedModel

WIDE_FIELD_COUNT = 200


class DocFields(models.Model):
    """The fields every document variant has (abstract: each variant has its own table)."""

    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, default="")
    status = models.CharField(max_length=20, default="draft")
    counter = models.IntegerField(default=0)
    published = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ("pk",)

    def __str__(self) -> str:
        return self.title


class PlainDoc(DocFields):
    """The baseline: no version column at all."""


class Doc(DocFields, VersionedModel):
    class Meta(VersionedModel.Meta):
        ordering = ("pk",)


class TokenDoc(DocFields, VersionedModel):
    """The same document, versioned by the token alone: no ``last_modified`` column."""

    last_modified = None  # type: ignore[assignment]

    class Meta(VersionedModel.Meta):
        ordering = ("pk",)


class ConcDoc(DocFields):
    """django-concurrency's way: an integer version checked by ``save()``."""

    version = IntegerVersionField()


def _wide_field(index: int) -> models.Field[Any, Any]:
    """Field ``index`` of ``Wide``: a mix of the common column types."""
    kind = index % 4
    if kind == 0:
        return models.CharField(max_length=64, default=f"value {index}")
    if kind == 1:
        return models.IntegerField(default=index * 1000)
    if kind == 2:
        return models.DecimalField(
            max_digits=12, decimal_places=2, default=Decimal(index) + Decimal("0.25")
        )
    return models.DateTimeField(default=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))


def wide_field_names() -> list[str]:
    return [f"f{index:03d}" for index in range(WIDE_FIELD_COUNT)]


def _build_wide() -> type[VersionedModel]:
    attrs: dict[str, Any] = {
        "__module__": __name__,
        "__qualname__": "Wide",
        "__doc__": f"A row with {WIDE_FIELD_COUNT} fields (and the two version fields).",
        "Meta": type("Meta", (VersionedModel.Meta,), {"ordering": ("pk",)}),
        "__str__": lambda self: f"Wide {self.pk}",
    }
    for index, name in enumerate(wide_field_names()):
        attrs[name] = _wide_field(index)
    return type("Wide", (VersionedModel,), attrs)


Wide = _build_wide()
