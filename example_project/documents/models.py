"""A document and the notes on it: both versioned, so every write proves which version it
edits."""

from __future__ import annotations

from django.db import models
from django.urls import reverse

from django_preconditions.models import VersionedModel


class Document(VersionedModel):
    """Served by the DRF viewset (/api/documents/) and the decorated view (/documents/)."""

    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, default="")

    class Meta(VersionedModel.Meta):
        ordering = ("id",)

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("document-detail", kwargs={"pk": self.pk})


class Note(VersionedModel):
    """Served by a plain view (/notes/), protected through PRECONDITIONS["VIEWS"]."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="notes")
    text = models.TextField()

    class Meta(VersionedModel.Meta):
        ordering = ("id",)

    def __str__(self) -> str:
        return self.text[:50]

    def get_absolute_url(self) -> str:
        return reverse("note-detail", kwargs={"pk": self.pk})
