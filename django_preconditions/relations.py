"""Many-to-many changes are writes of the model that declares the field (rule 46).

``doc.tags.add(tag)``, ``remove()``, ``set()`` and ``clear()`` write the relation's table,
not the row, so without this the row's version would not change: a client holding the old
``ETag`` could send it back with the old tags and overwrite a change it never saw.

- A change through the declaring side (``doc.tags``) gives that row a new version. When the
  request protects the row (any adapter, or :func:`~.models.expect_version`), it is a
  compare-and-swap against the version the request expects, as ``save()`` is: a rival's
  write in between raises :class:`~.exceptions.VersionConflict` and the relation's change is
  rolled back with the statement that raised (412); otherwise the request follows the new
  version (rule 52) and the instance in memory has it.
- A change through the reverse side (``tag.document_set``) gives the declaring rows it
  touched a new version; a symmetrical relation (``ManyToManyField("self")``) both sides.
- A field declared by a plain multi-table parent of a versioned model is a write of the
  versioned child's row (see :mod:`.inheritance`).
- Deleting a row the relation points to (``tag.delete()``, a queryset's ``delete()``, the
  admin's) deletes its links without ``m2m_changed``: the declaring rows that were linked to
  it get a new version before the links go, in the delete's transaction, or a conditional
  ``GET`` would answer 304 for a relation that changed. A queryset's delete is versioned
  at its first row, for all of them.
- Rows of a custom ``through`` model are links too, however they are written: created,
  saved or deleted directly (``Membership.objects.create(...)``, ``membership.delete()``, a
  queryset's ``delete()``), or by ``remove()``/``clear()``, which delete them through
  Django's collector. Each gives the declaring rows it names (before and after a save) a
  new version, once per row per delete; ``add()`` (a ``bulk_create()``) is versioned by
  ``m2m_changed``.

Receivers are connected per relation table, only for relations that versioned models declare
(:func:`connect_relations`, from ``AppConfig.ready()``): other many-to-many relations keep
Django's fast path for ``add()``, which it takes only when nobody listens to
``m2m_changed``. Writes Django makes without any signal (``bulk_create()``,
``bulk_update()``, ``update()`` of the ``through`` model) are not seen: bump the declaring
rows with ``bump_versions()``.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Collection
from contextvars import ContextVar
from typing import Any, Final, cast

from django.apps import apps
from django.db import models, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save

from ._compat import concrete_parents
from .inheritance import claim_row, expected_row, version_parent_write, versioned_children
from .models import (
    MODIFIED_FIELD,
    VERSION_FIELD,
    VersionedModel,
    _expectations,
    _matching,
    _WriteMark,
    follow_in_flight_save,
    new_version,
    refuse_deletes_in_receivers,
    version_root,
)

__all__ = ["connect_relations"]

#: The relation changes that write the table: after an add or a remove, before a clear (its
#: rows are known only then; Django runs both signals and the DELETE in one transaction).
_WRITES: Final = frozenset({"post_add", "post_remove", "pre_clear"})

#: Around the deletes of a ``remove()``/``clear()`` through a custom ``through`` model.
_CUSTOM_CHANGES: Final = frozenset({"pre_remove", "post_remove", "pre_clear", "post_clear"})

#: The declaring field of each relation table a receiver is connected for.
_FIELDS: dict[type[models.Model], models.ManyToManyField[Any, Any]] = {}

#: The fields of :data:`_FIELDS` by the concrete model they point to: deleting one of its rows
#: deletes their links.
_POINTING_TO: dict[type[models.Model], list[models.ManyToManyField[Any, Any]]] = {}

#: The custom ``through`` models of :data:`_FIELDS`: their rows' own signals version them.
_CUSTOM: dict[type[models.Model], models.ManyToManyField[Any, Any]] = {}


def connect_relations() -> None:
    """Connect the receiver for the many-to-many fields of every installed versioned model,
    and of their plain multi-table parents (called once all models are loaded)."""
    for model in apps.get_models():
        if not issubclass(model, VersionedModel):
            continue
        plain_parents = [p for p in concrete_parents(model) if not issubclass(p, VersionedModel)]
        for declaring in (model, *plain_parents):
            for field in declaring._meta.local_many_to_many:
                _connect(field)
    _connect_row_receivers()


def _connect(field: models.ManyToManyField[Any, Any]) -> None:
    through = field.remote_field.through
    if isinstance(through, type) and through not in _FIELDS:
        _FIELDS[through] = field
        if not through._meta.auto_created:
            _CUSTOM[through] = field
        m2m_changed.connect(
            _version_relation_change,
            sender=through,
            dispatch_uid=f"preconditions-m2m-{through._meta.label_lower}",
        )


def _connect_row_receivers() -> None:
    """Connect the row receivers, proxies included (Django sends ``pre_delete`` with the
    class deleted through; a multi-table child's delete sends it for the parent's row too):
    :func:`_version_before_target_delete` for the models the relations point to, and the
    link receivers for custom ``through`` models."""
    for field in _FIELDS.values():
        target = _concrete(field.remote_field.model)
        if field not in _POINTING_TO.setdefault(target, []):
            _POINTING_TO[target].append(field)
            refuse_deletes_in_receivers(target)  # its receiver compares and swaps
    for model in apps.get_models():
        uid = f"preconditions-m2m-{model._meta.label_lower}"
        if _concrete(model) in _POINTING_TO:
            pre_delete.connect(
                _version_before_target_delete, sender=model, dispatch_uid=f"{uid}-target"
            )
            post_delete.connect(_end_delete_run, sender=model, dispatch_uid=f"{uid}-target")
        if _concrete(model) in _CUSTOM:
            pre_save.connect(_version_link_moved, sender=model, dispatch_uid=f"{uid}-moved")
            post_save.connect(_version_link_saved, sender=model, dispatch_uid=f"{uid}-saved")
            pre_delete.connect(_version_link_deleted, sender=model, dispatch_uid=f"{uid}-gone")
            post_delete.connect(_end_delete_run, sender=model, dispatch_uid=f"{uid}-gone")


def _concrete(model: type[models.Model]) -> type[models.Model]:
    return model._meta.concrete_model or model


def _version_before_target_delete(
    sender: type[models.Model],
    instance: models.Model,
    using: str,
    origin: Any = None,
    **kwargs: Any,
) -> None:
    """A new version for the declaring rows linked to ``instance``, whose delete is about to
    delete the links (Django's collector sends ``pre_delete`` inside its transaction, before
    any ``DELETE``). A queryset's delete is handled at its first row, for all of its rows
    (one lock, one read and one ``UPDATE`` per relation, however many rows). Rows the
    delete removes are left to it."""
    target = _concrete(sender)
    done = _delete_run(origin, using)
    if (target, instance.pk) in done:
        return
    rows = target._base_manager.using(using)
    if isinstance(origin, models.QuerySet) and _concrete(origin.model) is target:
        rows = rows.filter(models.Q(pk__in=origin.values("pk")) | models.Q(pk=instance.pk))
    else:
        rows = rows.filter(pk=instance.pk)
    deleted = _lock(rows)
    done.update((target, pk) for pk in deleted)
    for field in _POINTING_TO.get(target, ()):
        keys = _linked_to(field, rows, using)
        for root in _declaring_roots(field.model):
            # The same rows when one class inherits the other (a proxy, a multi-table parent).
            if issubclass(target, root) or issubclass(root, target):
                keys -= deleted
            if keys:
                _bump_rows(root, keys, using)


def _version_relation_change(
    sender: type[models.Model],
    instance: models.Model,
    action: str,
    reverse: bool,
    model: type[models.Model],
    pk_set: Collection[Any] | None,
    using: str,
    **kwargs: Any,
) -> None:
    if sender in _CUSTOM and action != "post_add":
        if action in _CUSTOM_CHANGES and not reverse:
            _note_change(_CUSTOM[sender], instance, action)
        return  # the links' deletes are versioned by their own receiver
    if action not in _WRITES or (pk_set is not None and not pk_set):
        return  # not a write, or one that changes nothing (adding rows already related)
    field = _FIELDS[sender]  # connected only for the senders registered there
    if not reverse:
        if isinstance(instance, VersionedModel):
            _bump_instance(instance, using)
        else:  # an instance of a plain parent that declares the field
            version_parent_write(field.model, instance, using)
        if not field.remote_field.symmetrical:
            return
    # The declaring rows on the other side, named by the field the relation's table refers
    # to (the primary key, or a ``to_field``).
    keys: Collection[Any]
    if pk_set is None:
        keys = _related_before_clear(field, instance, using)
    else:
        referenced = (
            field.m2m_reverse_target_field_name() if not reverse else field.m2m_target_field_name()
        )
        keys = _primary_keys(field.model, referenced, pk_set, using)
    _bump_declaring_rows(field.model, keys, using)


def _declaring_roots(model: type[models.Model]) -> frozenset[type[models.Model]]:
    """Where the version of ``model``'s rows lives: its own root, or for a plain parent the
    roots of its versioned children."""
    if issubclass(model, VersionedModel):
        return frozenset({version_root(model)})
    return versioned_children(model)


def _primary_keys(
    model: type[models.Model], referenced: str, values: Collection[Any], using: str
) -> list[Any]:
    """The primary keys of the rows of ``model`` whose field ``referenced`` has one of
    ``values`` (the values themselves when it is the primary key)."""
    pk = model._meta.pk
    if referenced in (pk.name, pk.attname):
        return list(values)
    rows = model._base_manager.using(using).filter(**{f"{referenced}__in": list(values)})
    return list(rows.values_list("pk", flat=True))


def _related_before_clear(
    field: models.ManyToManyField[Any, Any], instance: models.Model, using: str
) -> set[Any]:
    """The primary keys of the declaring rows related to ``instance``, read before a
    ``clear()`` deletes their links."""
    rows = type(instance)._base_manager.using(using).filter(pk=instance.pk)
    _lock(rows)
    return _linked_to(field, rows, using)


def _lock(rows: models.QuerySet[Any]) -> set[Any]:
    """Lock ``rows`` (their primary keys) before their links are read and then deleted (a
    ``clear()``, a delete of the rows): a link to them that another transaction adds from
    now on waits for this one (its foreign key check), so no link is deleted that was not
    read."""
    return set(rows.select_for_update().values_list("pk", flat=True))


def _linked_to(
    field: models.ManyToManyField[Any, Any], rows: models.QuerySet[Any], using: str
) -> set[Any]:
    """The primary keys of the declaring rows of ``field`` linked to any of ``rows``."""
    linked = field.model._base_manager.using(using).filter(**{f"{field.name}__in": rows})
    return set(linked.select_for_update().values_list("pk", flat=True))


def _bump_instance(instance: VersionedModel, using: str) -> None:
    """A new version for ``instance``'s row: a compare-and-swap when the request expects the
    row, followed by the request (rule 52). The instance in memory gets it too when it had
    the row's version: not one whose ``save()`` is under way (a ``pre_save`` receiver), which
    writes a version of its own after this one."""
    root = version_root(type(instance))
    values = new_version(root)  # explicit values: update() keeps them
    rows = root._base_manager.using(using).filter(pk=instance.pk)
    expectations = _expectations.get()
    expectation = _matching(expectations, instance, using) if expectations else None
    if expectation is not None and not expectation.deleted and expectation.token is not None:
        expected = expectation.token
        if not rows.filter(**{VERSION_FIELD: expected}).update(**values):
            raise instance._conflict(expected, using=using)
        expectation._record(values[VERSION_FIELD], values.get(MODIFIED_FIELD))
        follow_in_flight_save(root, instance.pk, values[VERSION_FIELD])
        in_step = instance.version_token == expected
    else:
        # Only the row the instance has is followed by the instance; any other (a stale
        # copy, a save under way) is given the new version all the same.
        in_step = bool(rows.filter(**{VERSION_FIELD: instance.version_token}).update(**values))
        if not in_step:
            rows.update(**values)
    if in_step:
        for name, value in values.items():
            setattr(instance, name, value)


def _bump_declaring_rows(model: type[models.Model], keys: Collection[Any], using: str) -> None:
    """:func:`_bump_rows` for the rows of ``model`` (the model declaring a relation) with
    primary keys ``keys``, wherever their version lives (:func:`_declaring_roots`)."""
    if keys:
        for root in _declaring_roots(model):
            _bump_rows(root, keys, using)


def _bump_rows(root: type[models.Model], keys: Collection[Any], using: str) -> None:
    """A new version for the rows of ``root`` with primary keys ``keys``: those the request
    expects compared and swapped one by one and followed (rule 52), the others in one
    ``UPDATE``."""
    rest = list(keys)
    if _expectations.get():
        rest = [key for key in rest if not claim_row(root, key, using)]
    if rest:
        root._base_manager.using(using).filter(pk__in=rest).update(**new_version(root))


# -- rows of a custom ``through`` model, however written ----------------------------------------


@functools.cache
def _link_ends(field: models.ManyToManyField[Any, Any]) -> tuple[tuple[str, str], ...]:
    """The foreign keys of ``field``'s ``through`` model that name declaring rows, each as
    (its attname, the field of the declaring model it refers to): the source, and for a
    symmetrical relation the target too."""
    through = cast("type[models.Model]", field.remote_field.through)
    ends = [(field.m2m_field_name(), field.m2m_target_field_name())]
    if field.remote_field.symmetrical:
        ends.append((field.m2m_reverse_field_name(), field.m2m_reverse_target_field_name()))
    keys = [cast("models.ForeignKey[Any, Any]", through._meta.get_field(n)) for n, _ in ends]
    return tuple((key.attname, referenced) for key, (_, referenced) in zip(keys, ends))


_Link = tuple[str, Any]  # (the declaring model's field a link refers to, its value)


def _link_values(field: models.ManyToManyField[Any, Any], link: models.Model) -> list[_Link]:
    return [(referenced, getattr(link, attname)) for attname, referenced in _link_ends(field)]


def _stored_link_values(
    field: models.ManyToManyField[Any, Any], link: models.Model, using: str
) -> list[_Link]:
    """The declaring rows the stored row of ``link`` names (an instance in memory may be
    stale: another write may have moved the link since it was loaded)."""
    ends = _link_ends(field)
    rows = type(link)._base_manager.using(using).filter(pk=link.pk)
    stored = rows.values_list(*(attname for attname, _ in ends)).first()
    if stored is None:
        return []
    return [(referenced, value) for (_, referenced), value in zip(ends, stored, strict=True)]


def _version_link(
    field: models.ManyToManyField[Any, Any], links: Collection[_Link], using: str
) -> None:
    """A new version for the declaring rows the ``links`` name: through the instance whose
    ``remove()``/``clear()`` deletes them (:data:`_changing`), which then follows, or as
    :func:`_bump_rows`."""
    changing = _changing.get()
    for referenced, value in links:
        if value is None:
            continue
        keys = _primary_keys(field.model, referenced, [value], using)
        noted = changing.get((field, referenced, value)) if changing else None
        instance = noted() if noted is not None else None
        if isinstance(instance, VersionedModel) and instance.pk in keys:
            _bump_instance(instance, using)
            keys = [key for key in keys if key != instance.pk]
        _bump_declaring_rows(field.model, keys, using)


def _claim_links(
    field: models.ManyToManyField[Any, Any], links: Collection[_Link], using: str
) -> None:
    """Before a link is written under expected versions: every row it names that the request
    expects must still have its version, checked for all before any is claimed (so that a
    refused link changes no row, rule 51), then each is claimed (compare-and-swap, followed)."""
    pairs = [
        (root, key)
        for referenced, value in links
        if value is not None
        for key in _primary_keys(field.model, referenced, [value], using)
        for root in _declaring_roots(field.model)
    ]
    for root, key in pairs:
        expectation = expected_row(root, key, using)
        if (
            expectation is not None
            and not root._base_manager.using(using)
            .filter(pk=key, **{VERSION_FIELD: expectation.token})
            .exists()
        ):
            claim_row(root, key, using)  # raises the conflict, as a claim would
    for root, key in pairs:
        claim_row(root, key, using)


def _version_link_moved(
    sender: type[models.Model],
    instance: models.Model,
    raw: bool,
    using: str,
    update_fields: Collection[str] | None,
    **kwargs: Any,
) -> None:
    """``pre_save`` of a link. The rows it names after the save are versioned then
    (:func:`_version_link_saved`); a stored link moved to other rows: the rows it named lose
    it, now. Under expected versions, all of those rows are claimed first (rule 51)."""
    if raw:
        return
    field = _CUSTOM[_concrete(sender)]
    current = _link_values(field, instance)
    stored: list[_Link] | None = None  # read once, and only when needed
    moved: list[_Link] = []
    if _may_be_stored(sender, instance) and _writes_link_fields(field, sender, update_fields):
        stored = _stored_link_values(field, instance, using)
        moved = [link for link in stored if link not in current]
    if _expectations.get():
        if update_fields is None or moved:
            _claim_links(field, [*moved, *current], using)
        else:  # only other fields are written: the rows the stored link names
            if stored is None:
                stored = _stored_link_values(field, instance, using)
            _claim_links(field, stored, using)
    if moved:
        _version_link(field, moved, using)


def _may_be_stored(model: type[models.Model], instance: models.Model) -> bool:
    """Whether saving ``instance`` may update a stored row (Django inserts a new instance
    whose primary key has a default without trying an UPDATE first)."""
    pk = model._meta.pk
    if instance.pk is None or pk is None:
        return False
    return not (instance._state.adding and (pk.has_default() or pk.has_db_default()))


def _writes_link_fields(
    field: models.ManyToManyField[Any, Any],
    model: type[models.Model],
    update_fields: Collection[str] | None,
) -> bool:
    if update_fields is None:
        return True
    names = {attname for attname, _ in _link_ends(field)}
    names.update(model._meta.get_field(attname).name for attname in list(names))
    return bool(names.intersection(update_fields))


def _version_link_saved(
    sender: type[models.Model],
    instance: models.Model,
    raw: bool,
    using: str,
    update_fields: Collection[str] | None,
    **kwargs: Any,
) -> None:
    """``post_save`` of a link: the rows it names have a new link, or a changed one (when
    only other fields were written, the rows its stored row names)."""
    if raw:
        return  # loaddata: rows are restored as they were, not written
    field = _CUSTOM[_concrete(sender)]
    if _writes_link_fields(field, sender, update_fields):
        _version_link(field, _link_values(field, instance), using)
    else:
        _version_link(field, _stored_link_values(field, instance, using), using)


def _version_link_deleted(
    sender: type[models.Model],
    instance: models.Model,
    using: str,
    origin: Any = None,
    **kwargs: Any,
) -> None:
    """``pre_delete`` of a link, in the collector's transaction: the rows it names lose it.
    Each row once per delete (``clear()`` of a hundred links is one write of the row). A
    link deleted because the row it names or points to is deleted is left to that delete
    (:func:`_version_before_target_delete`)."""
    through = _concrete(sender)
    field = _CUSTOM[through]
    if origin is not None:
        model = _concrete(origin.model if isinstance(origin, models.QuerySet) else type(origin))
        if model is not through and _deletes_linked(field, model):
            return
    if origin is instance:  # link.delete(): the instance in memory may be stale
        links = _stored_link_values(field, instance, using)
    else:  # loaded by the collector for this delete
        links = _link_values(field, instance)
    done = _delete_run(origin, using)
    _version_link(field, [link for link in links if (field, *link) not in done], using)
    done.update((field, *link) for link in links)


class _DeleteRun:
    """The rows one collector run has versioned so far (see :func:`_delete_run`)."""

    __slots__ = ("done", "mark", "origin")

    def __init__(self, origin: Any, using: str) -> None:
        self.origin = weakref.ref(origin) if origin is not None else None
        self.done: set[tuple[Any, ...]] = set()
        # Registered with on_commit(): pending while the run's transaction is live, dropped
        # when it (or a savepoint around the run) is rolled back.
        self.mark = _WriteMark(transaction.get_connection(using))
        if self.mark.connection.in_atomic_block:
            self.mark.connection.on_commit(self.mark)

    def current(self, origin: Any) -> bool:
        """Whether a delete from ``origin`` belongs to this run: the same origin, and the
        run's transaction neither committed nor rolled back since."""
        return (
            origin is not None
            and self.origin is not None
            and self.origin() is origin
            and not self.mark.committed
            and self.mark.stands()
        )


_delete_runs: ContextVar[_DeleteRun | None] = ContextVar("preconditions_link_deletes", default=None)


def _delete_run(origin: Any, using: str) -> set[tuple[Any, ...]]:
    """What the collector run deleting from ``origin`` (the queryset or instance
    ``delete()`` was called on) has versioned already. A run ends at its first
    ``post_delete``, or when its transaction ends: a delete of the same queryset again, after
    a rollback took back what the run versioned, is a new run that skips nothing."""
    run = _delete_runs.get()
    if run is None or not run.current(origin):
        run = _DeleteRun(origin, using)
        _delete_runs.set(run)
    return run.done


def _end_delete_run(**kwargs: Any) -> None:
    """``post_delete`` of a link: its run's deletes are done."""
    _delete_runs.set(None)


#: The instances whose ``remove()``/``clear()`` through a custom ``through`` model is under
#: way, by (field, referenced field, value): the links' deletes version the row through the
#: instance, which follows it as with an auto-created table. Left over after an error, an
#: entry only lets that instance, if it is still alive and had the row's version, follow a
#: later write of the same row.
_changing: ContextVar[dict[tuple[Any, ...], weakref.ref[models.Model]] | None] = ContextVar(
    "preconditions_relations_changing", default=None
)


def _note_change(
    field: models.ManyToManyField[Any, Any], instance: models.Model, action: str
) -> None:
    """``pre_remove``/``pre_clear`` (and their ``post_``) through the declaring side of a
    custom ``through`` relation: note (or forget) the instance whose links are deleted."""
    referenced = _link_ends(field)[0][1]
    key = (field, referenced, getattr(instance, referenced))
    changing = dict(_changing.get() or {})
    if action.startswith("pre_"):
        changing[key] = weakref.ref(instance)
    else:
        changing.pop(key, None)
    _changing.set(changing or None)


def _deletes_linked(field: models.ManyToManyField[Any, Any], model: type[models.Model]) -> bool:
    """Whether deleting rows of ``model`` is what deletes links of ``field`` (a row they
    point to, whose delete versions the linked rows, or a declaring row, deleted itself)."""
    target = _concrete(field.remote_field.model)
    declaring = field.model
    return (
        issubclass(model, target)
        or issubclass(target, model)
        or issubclass(model, declaring)
        or issubclass(declaring, model)
    )
