"""Writes through a plain (unversioned) parent of a versioned multi-table child (rule 53).

``class NamedDocument(Named, VersionedModel)`` keeps its version in the child table, while
``name`` lives in the parent ``Named``'s table. Saving a ``Named`` instance of that row is
a plain Django save of the parent table: it would bypass the expected version and leave the
version unchanged, so a client holding the old ETag could overwrite it. For every such
parent, this module connects receivers that

- before a save or delete under an expected version of the row, claim it with a
  compare-and-swap ``UPDATE`` of the child table (zero rows: ``VersionConflict``, and the
  parent table is not written);
- after any save, give the row a new version (rule 46), which the expectation follows
  (rule 52).

Inside a transaction the claim locks the row until COMMIT, so the check and the write are
atomic; in autocommit they are separate statements. These are the only extra statements, and
only for saves through the plain parent class.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models.signals import post_save, pre_delete, pre_save

from ._compat import concrete_parents
from .exceptions import VersionConflict
from .models import (
    MODIFIED_FIELD,
    VERSION_FIELD,
    VersionedModel,
    VersionExpectation,
    _expectations,
    _key_value,
    follow_in_flight_save,
    new_version,
    version_root,
)

__all__ = [
    "claim_row",
    "expected_row",
    "guard_plain_parents",
    "version_parent_write",
    "versioned_children",
]

# Plain parent model -> the version roots of its versioned children.
_ROOTS_BY_PARENT: dict[type[models.Model], set[type[models.Model]]] = {}


def guard_plain_parents(sender: type[models.Model], **kwargs: Any) -> None:
    """``class_prepared`` receiver: register the plain concrete parents of a versioned model."""
    if not issubclass(sender, VersionedModel) or sender._meta.abstract or sender._meta.proxy:
        return
    root = version_root(sender)
    for parent in concrete_parents(sender):
        if issubclass(parent, VersionedModel):
            continue
        _ROOTS_BY_PARENT.setdefault(parent, set()).add(root)
        uid = f"django_preconditions.inheritance:{parent._meta.label}"
        pre_save.connect(_claim_before_save, sender=parent, dispatch_uid=uid)
        post_save.connect(_bump_after_save, sender=parent, dispatch_uid=uid)
        pre_delete.connect(_claim_before_delete, sender=parent, dispatch_uid=uid)


def expected_row(root: type[models.Model], pk: Any, using: str) -> VersionExpectation | None:
    """The innermost expectation of the row ``root``/``pk`` written to ``using``, if any."""
    for expectation in reversed(_expectations.get()):
        if (
            expectation.root is root
            and expectation.field == "pk"
            and _key_value(expectation.key, pk) == expectation.value
            and expectation.written_on(using)
        ):
            expectation.settle()
            return expectation
    return None


def _rewrite(root: type[models.Model], pk: Any, using: str, token: str | None) -> int:
    """Give the row a new version (only if it carries ``token``, when given)."""
    rows = root._base_manager.using(using).filter(pk=pk)
    if token is not None:
        rows = rows.filter(**{VERSION_FIELD: token})
    values = new_version(root)
    updated = rows.update(**values)
    expectation = expected_row(root, pk, using)
    if updated and expectation is not None:
        expectation._record(values[VERSION_FIELD], values.get(MODIFIED_FIELD))
        follow_in_flight_save(root, pk, values[VERSION_FIELD])
    return int(updated)


def _claim(
    sender: type[models.Model], instance: models.Model, using: str, *, bump: bool = False
) -> None:
    """Claim the row for a write through the plain parent ``sender``: a compare-and-swap
    under an expected version; with ``bump``, a new version also when none is expected."""
    for root in _ROOTS_BY_PARENT.get(sender, ()):
        claim_row(root, instance.pk, using, bump=bump)


def claim_row(root: type[models.Model], pk: Any, using: str, *, bump: bool = False) -> bool:
    """Under an expected version of the row ``root``/``pk``, a compare-and-swap that gives
    it a new version, followed by the request (``VersionConflict`` when it has another
    version); without one, a new version only with ``bump``. Whether one was expected."""
    expectation = expected_row(root, pk, using)
    if expectation is None:
        if bump:
            _rewrite(root, pk, using, None)
        return False
    if expectation.token is None or not _rewrite(root, pk, using, expectation.token):
        raise VersionConflict(
            f"{root._meta.label} {pk} no longer has version "
            f"{expectation.token!r}: it was changed or deleted by another write",
            model=root,
            pk=pk,
            expected_version=expectation.token,
            using=using,
        )
    return True


def versioned_children(parent: type[models.Model]) -> frozenset[type[models.Model]]:
    """The version roots of the versioned multi-table children of the plain ``parent``."""
    return frozenset(_ROOTS_BY_PARENT.get(parent, ()))


def version_parent_write(parent: type[models.Model], instance: models.Model, using: str) -> None:
    """A write of the row through its plain parent that Django made without ``save()`` (a
    change of a many-to-many field the parent declares): a new version for the versioned
    child's row, compared and swapped when the request expects it (rules 46, 52)."""
    _claim(parent, instance, using, bump=True)


def _claim_before_save(
    sender: type[models.Model], instance: models.Model, raw: bool = False, **kwargs: Any
) -> None:
    # Also a new instance carrying the row's key: Django's save() of it UPDATEs the row.
    if not raw and instance.pk is not None:
        _claim(sender, instance, kwargs["using"])


def _claim_before_delete(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    if isinstance(kwargs.get("origin"), VersionedModel):
        return  # deleting the versioned child itself, which compares and swaps on its own
    _claim(sender, instance, kwargs["using"])


def _bump_after_save(
    sender: type[models.Model], instance: models.Model, raw: bool = False, **kwargs: Any
) -> None:
    if raw:
        return
    for root in _ROOTS_BY_PARENT.get(sender, ()):
        _rewrite(root, instance.pk, kwargs["using"], None)
