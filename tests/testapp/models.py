from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils.text import slugify

from django_preconditions.models import VersionedManager, VersionedModel


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


# --- integrity of the compare-and-swap on every write path (rules 50-53) ---------------------


class DocumentProxy(Document):
    """The same rows as Document, through another class (rule 53)."""

    class Meta:
        proxy = True


class UuidDocument(VersionedModel):
    """A primary key with a default: Django saves a new instance with a bare INSERT."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(max_length=200)


class Named(models.Model):
    """A plain concrete parent: its table is written before the versioned child's."""

    name = models.CharField(max_length=100, default="")
    #: Declared by the plain parent: changing it is a write of the versioned child's row.
    tags = models.ManyToManyField("Label", blank=True, related_name="named")


class NamedDocument(Named, VersionedModel):
    """Multi-table inheritance where the version lives in the child table (rule 51)."""

    title = models.CharField(max_length=200, default="")

    objects = VersionedManager()


class Note(VersionedModel):
    """Its post_save receiver saves it again with update_fields (rule 52)."""

    title = models.CharField(max_length=200)
    slug = models.CharField(max_length=200, blank=True, default="")


@receiver(post_save, sender=Note)
def _keep_note_slug(sender: type[Note], instance: Note, **kwargs: object) -> None:
    slug = slugify(instance.title)
    if instance.slug != slug:
        instance.slug = slug
        instance.save(update_fields=["slug"])


class TokenOnlyDocument(VersionedModel):
    """Versioned by its token alone: ``last_modified`` removed, as Django removes a field
    inherited from an abstract model (no ``Last-Modified``; rule 25)."""

    last_modified = None  # type: ignore[assignment]
    title = models.CharField(max_length=200)
    counter = models.IntegerField(default=0)


class TokenOnlyChapter(TokenOnlyDocument):
    """A multi-table child: the token lives in the parent's table (rule 53)."""

    number = models.IntegerField(default=1)


class Label(models.Model):
    """A plain model that documents are labelled with (many-to-many: rule 46)."""

    name = models.CharField(max_length=50)


class LabelProxy(Label):
    """The same labels through another class: deleting one unlinks documents too (rule 46)."""

    class Meta:
        proxy = True


class LabelledDocument(VersionedModel):
    """Declares many-to-many fields: changing them is a write of the document (rule 46)."""

    title = models.CharField(max_length=200)
    labels = models.ManyToManyField(Label, blank=True, related_name="documents")
    #: Symmetrical: a change through either side is a write of both rows.
    related = models.ManyToManyField("self", blank=True)


class SluggedLabelled(VersionedModel):
    """A custom ``through`` whose key to the declaring model is a unique slug (``to_field``)."""

    slug = models.SlugField(unique=True)
    labels = models.ManyToManyField(Label, through="Tagging", related_name="slugged")


class Tagging(models.Model):
    """The relation's table of ``SluggedLabelled.labels``, with a field of its own."""

    document = models.ForeignKey(SluggedLabelled, to_field="slug", on_delete=models.CASCADE)
    label = models.ForeignKey(Label, on_delete=models.CASCADE)
    note = models.CharField(max_length=50, default="")
