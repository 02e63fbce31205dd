from __future__ import annotations

from django.conf import settings
from django.db import models

from django_preconditions.models import VersionedModel


class Document(VersionedModel):
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, default="")
    counter = models.IntegerField(default=0)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    def __str__(self) -> str:
        return self.title


class OrderedDocument(VersionedModel):
    """Its Meta does not inherit VersionedModel.Meta: the base manager must still be ours."""

    title = models.CharField(max_length=200)

    class Meta:
        ordering = ["id"]


class Folder(VersionedModel):
    """Deleting a folder cascades to its entries (not a single-statement delete)."""

    name = models.CharField(max_length=100)


class Entry(models.Model):
    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="entries")
    text = models.CharField(max_length=100)


class Article(VersionedModel):
    title = models.CharField(max_length=200)


class SpecialArticle(Article):
    """Multi-table inheritance: the version token lives in the parent table."""

    tag = models.CharField(max_length=50, default="")


class PlainCounter(models.Model):
    """The unprotected control for concurrency tests."""

    counter = models.IntegerField(default=0)


class SluggedDocument(VersionedModel):
    """A unique field: under SERIALIZABLE, writers of different rows conflict through its
    index (the reproduction of issue 9, item 2)."""

    slug = models.SlugField(unique=True)
    counter = models.IntegerField(default=0)
