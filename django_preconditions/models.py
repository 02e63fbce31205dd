"""Versioned models: a version token served as a strong ETag, and writes that are one
compare-and-swap statement.

A :class:`VersionedModel` gets two fields, ``version_token`` (random, opaque, new on every
write) and ``last_modified``. Saving or deleting with an *expected* version — given
explicitly (``save(expected_version=…)``) or by a protected view for the object it serves
(:func:`expect_version`) — issues a single ``UPDATE … WHERE pk = … AND version_token = …``
(or ``DELETE …``); no row matched means somebody else wrote first, and
:class:`~django_preconditions.exceptions.VersionConflict` is raised. There is no SELECT
before the write and no extra statement compared with Django's plain ``save()``/``delete()``.
"""

from __future__ import annotations

import contextlib
import datetime
import secrets
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from asgiref.sync import sync_to_async
from django.db import DatabaseError, connections, models, router, transaction
from django.db.models.functions import Greatest, TruncSecond
from django.db.models.signals import class_prepared
from django.utils import timezone
from django.utils.http import http_date
from django.utils.translation import gettext_lazy as _

from ._compat import can_fast_delete, is_zero_row_update
from .dbconflicts import is_database_conflict
from .exceptions import VersionConflict
from .headers import EntityTag, format_entity_tag

__all__ = [
    "VersionExpectation",
    "VersionedManager",
    "VersionedModel",
    "VersionedQuerySet",
    "expect_version",
    "new_version_token",
    "pop_expectation",
    "push_expectation",
]

VERSION_FIELD = "version_token"
MODIFIED_FIELD = "last_modified"
BASE_MANAGER_NAME = "versioned_base_objects"
_ONE_SECOND = datetime.timedelta(seconds=1)

_M = TypeVar("_M", bound="VersionedModel")


def new_version_token() -> str:
    """A fresh, opaque version token: 128 random bits, URL-safe, valid inside an ETag.

    Random tokens reveal neither the primary key nor the number of edits (rule 43) and never
    repeat for a resource, also across delete and re-create (rule 42).
    """
    return secrets.token_urlsafe(16)


def next_modification_time(previous: datetime.datetime | None) -> datetime.datetime:
    """The ``last_modified`` of a new write: now, but at least one whole second after the
    previous write's second.

    ``If-Unmodified-Since`` has one-second resolution. If two writes could share a second, a
    client that read after the first could pass the check after the second and overwrite it.
    Moving the second write to the next whole second makes its ``Last-Modified`` strictly
    later (rule 24). Until the clock catches up, the served ``Last-Modified`` is capped at the
    current time (rule 39), which can only make a precondition fail, never pass wrongly.
    """
    now = timezone.now()
    if previous is None:
        return now
    if timezone.is_aware(previous) != timezone.is_aware(now):
        return now
    earliest = previous.replace(microsecond=0) + _ONE_SECOND
    return earliest if now < earliest else now


def stored_timestamp(value: datetime.datetime | None) -> int | None:
    """Whole seconds since the epoch of a stored ``last_modified`` (rule 22), uncapped: what
    preconditions are evaluated against. It may lie up to a few seconds in the future after
    writes in quick succession (see :func:`next_modification_time`)."""
    if value is None:
        return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    return int(value.timestamp())


def http_timestamp(value: datetime.datetime | None) -> int | None:
    """Whole seconds since the epoch, as served in ``Last-Modified``: the stored time
    truncated to the second (rule 22) and never later than now (rule 39)."""
    stored = stored_timestamp(value)
    if stored is None:
        return None
    return min(stored, int(timezone.now().timestamp()))


# --- Expected versions -------------------------------------------------------------------


@dataclass
class VersionExpectation:
    """The version a write to one row must still find, and what happened to it.

    Protected views register one for the object they serve (:func:`expect_version`); the
    object's ``save()``/``delete()`` during the request then compare-and-swap against it and
    record the outcome here, so the adapter can send the new ``ETag``.
    """

    model: type[models.Model]
    pk: Any
    token: str
    written: bool = False
    deleted: bool = False
    last_modified: datetime.datetime | None = None

    def matches(self, instance: models.Model) -> bool:
        return isinstance(instance, self.model) and instance.pk == self.pk

    @property
    def etag(self) -> str:
        return format_entity_tag(self.token)


_expectations: ContextVar[tuple[VersionExpectation, ...]] = ContextVar(
    "django_preconditions_expectations", default=()
)


@contextlib.contextmanager
def expect_version(model: type[models.Model], pk: Any, token: str) -> Iterator[VersionExpectation]:
    """Within the block, saving or deleting the row ``model``/``pk`` must find ``token``.

    Works for any instance of that row, also one the view fetched again itself; sync and
    async code alike (the expectation lives in a context variable).
    """
    expectation = push_expectation(model, pk, token)
    try:
        yield expectation
    finally:
        pop_expectation(expectation)


def push_expectation(model: type[models.Model], pk: Any, token: str) -> VersionExpectation:
    """Start expecting ``token`` for the row, until :func:`pop_expectation`.

    For adapters whose "before" and "after" run in different calls (the middleware's
    ``process_view`` and ``__call__``); elsewhere :func:`expect_version` is simpler.
    """
    expectation = VersionExpectation(model=model, pk=pk, token=token)
    _expectations.set((*_expectations.get(), expectation))
    return expectation


def pop_expectation(expectation: VersionExpectation) -> None:
    """Stop expecting; a no-op when it is not (or no longer) registered in this context."""
    _expectations.set(tuple(item for item in _expectations.get() if item is not expectation))


def _expectation_for(instance: models.Model) -> VersionExpectation | None:
    for expectation in reversed(_expectations.get()):
        if expectation.matches(instance):
            return expectation
    return None


# --- The compare-and-swap hook --------------------------------------------------------------


@dataclass
class _SwapTarget:
    model: type[models.Model]
    pk: Any
    token: str
    applied: bool = False


_swap_target: ContextVar[_SwapTarget | None] = ContextVar(
    "django_preconditions_swap_target", default=None
)


class _CompareAndSwapQuerySet(models.QuerySet[Any]):
    """The base-manager queryset while a compare-and-swap save runs.

    ``Model.save()`` updates an existing row through ``_base_manager.filter(pk=…)``; that one
    filter gains ``version_token = <expected>``, so the UPDATE itself is the compare-and-swap.
    Any other query is untouched. ``tests/test_compat.py`` pins this Django behaviour.
    """

    def filter(self, *args: Any, **kwargs: Any) -> Any:
        target = _swap_target.get()
        if (
            target is not None
            and not args
            and kwargs.keys() == {"pk"}
            and self.model is target.model
            and kwargs["pk"] == target.pk
        ):
            target.applied = True
            kwargs[VERSION_FIELD] = target.token
        return super().filter(*args, **kwargs)


class VersionedBaseManager(models.Manager[Any]):
    """Base manager of versioned models: a plain manager, except during a compare-and-swap
    save, when it hands Django the :class:`_CompareAndSwapQuerySet`."""

    def get_queryset(self) -> models.QuerySet[Any]:
        target = _swap_target.get()
        if target is not None and self.model is target.model:
            return _CompareAndSwapQuerySet(self.model, using=self._db)
        return super().get_queryset()


# --- QuerySet and manager --------------------------------------------------------------------


def _bumped_modification() -> Any:
    """SQL for ``last_modified`` on a bulk update: now, or one second after the row's previous
    second if that is later (the same rule as :func:`next_modification_time`, per row)."""
    now = models.Value(timezone.now(), output_field=models.DateTimeField())
    after_previous = models.ExpressionWrapper(
        TruncSecond(MODIFIED_FIELD, tzinfo=datetime.timezone.utc)
        + models.Value(_ONE_SECOND, output_field=models.DurationField()),
        output_field=models.DateTimeField(),
    )
    return Greatest(now, after_previous, output_field=models.DateTimeField())


class VersionedQuerySet(models.QuerySet[_M]):
    """A queryset whose bulk writes change the version of every row they touch (rule 46)."""

    def update(self, **kwargs: Any) -> int:
        """``QuerySet.update()`` that also gives every updated row a new version token and
        ``last_modified``, so clients holding the old ETag get 412."""
        kwargs.setdefault(VERSION_FIELD, new_version_token())
        kwargs.setdefault(MODIFIED_FIELD, _bumped_modification())
        return super().update(**kwargs)

    update.alters_data = True  # type: ignore[attr-defined]

    def bump_versions(self) -> int:
        """Give every row of the queryset a new version, e.g. after writing to the table with
        raw SQL or ``update_without_bump()``. Returns the number of rows."""
        return self.update()

    bump_versions.alters_data = True  # type: ignore[attr-defined]

    def update_without_bump(self, **kwargs: Any) -> int:
        """Django's plain ``update()``: versions stay as they are. Clients holding an ETag will
        not notice the change — use only for fields that are not part of the representation."""
        return super().update(**kwargs)

    update_without_bump.alters_data = True  # type: ignore[attr-defined]

    def bulk_update(
        self, objs: Iterable[_M], fields: Iterable[str], batch_size: int | None = None
    ) -> int:
        """``bulk_update()`` that gives each object a new version token and ``last_modified``."""
        objs = list(objs)
        for obj in objs:
            obj.version_token = new_version_token()
            obj.last_modified = next_modification_time(obj.last_modified)
        fields = [
            *fields,
            *(name for name in (VERSION_FIELD, MODIFIED_FIELD) if name not in fields),
        ]
        return super().bulk_update(objs, fields, batch_size=batch_size)

    bulk_update.alters_data = True  # type: ignore[attr-defined]


class VersionedManager(models.Manager[_M]):
    """The default manager of :class:`VersionedModel` (``objects``)."""

    def get_queryset(self) -> VersionedQuerySet[_M]:
        return VersionedQuerySet(self.model, using=self._db)

    def bump_versions(self) -> int:
        return self.get_queryset().bump_versions()

    def update_without_bump(self, **kwargs: Any) -> int:
        return self.get_queryset().update_without_bump(**kwargs)


# --- The model -----------------------------------------------------------------------------


class VersionedModel(models.Model):
    """Abstract base for models whose writes must prove which version they edit.

    Adds ``version_token`` and ``last_modified``; exposes :attr:`etag` (strong, quoted) and
    :attr:`last_modified`. ``save()``/``delete()`` accept ``expected_version=`` and are then a
    single compare-and-swap statement raising :class:`VersionConflict` on a mismatch.
    """

    version_token = models.CharField(
        max_length=64,
        default=new_version_token,
        editable=False,
        help_text=_("Opaque token naming the stored state; new on every write. Served as ETag."),
    )
    last_modified = models.DateTimeField(
        default=timezone.now,
        editable=False,
        help_text=_("When the row was last written (served as Last-Modified)."),
    )

    objects: ClassVar[VersionedManager[Any]] = VersionedManager()
    versioned_base_objects = VersionedBaseManager()

    class Meta:
        abstract = True
        base_manager_name = BASE_MANAGER_NAME

    # -- writes --

    def save(self, *args: Any, expected_version: str | None = None, **kwargs: Any) -> None:
        """Save with a new version token and ``last_modified``.

        With ``expected_version`` (or inside :func:`expect_version` for this row) the UPDATE
        only applies if the stored token is still the expected one, and a missing row is
        never re-inserted; otherwise :class:`VersionConflict` is raised and nothing changes.
        ``update_fields`` always gains the two version fields.
        """
        expectation = None
        if expected_version is None and not self._state.adding:
            expectation = _expectation_for(self)
            if expectation is not None:
                expected_version = expectation.token
        if expected_version is not None and self._state.adding:
            raise ValueError(
                "save(expected_version=…) needs an existing row; this instance has not been "
                "saved yet. Omit expected_version to create it."
            )
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            if not update_fields:  # Django saves nothing for an empty list; neither do we
                super().save(*args, **kwargs)
                return
            kwargs["update_fields"] = {*update_fields, VERSION_FIELD, MODIFIED_FIELD}
        previous = (self.version_token, self.last_modified)
        self.version_token = new_version_token()
        # A new row has no previous write to stay ahead of.
        self.last_modified = next_modification_time(
            None if self._state.adding else self.last_modified
        )
        try:
            if expected_version is None:
                super().save(*args, **kwargs)
            else:
                self._compare_and_swap_save(expected_version, args, kwargs)
        except BaseException:
            self.version_token, self.last_modified = previous
            raise
        if expectation is not None:
            expectation.token = self.version_token
            expectation.last_modified = self.last_modified
            expectation.written = True

    save.alters_data = True  # type: ignore[attr-defined]

    def _version_owner(self) -> type[models.Model]:
        """The concrete model whose table holds ``version_token`` (matters for multi-table
        inheritance, where Django updates each parent table through its own base manager)."""
        owner = self._meta.get_field(VERSION_FIELD).model
        return owner._meta.concrete_model or owner

    def _compare_and_swap_save(
        self, expected_version: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        if not kwargs.get("update_fields"):
            # A vanished row must raise, not be re-inserted (Django's fallback to INSERT).
            # force_update does not reach the parent tables of multi-table inheritance, where
            # the version lives; an explicit update_fields does.
            if self._meta.parents:
                kwargs["update_fields"] = {
                    field.name for field in self._meta.concrete_fields if not field.primary_key
                }
            else:
                kwargs["force_update"] = True
        target = _SwapTarget(model=self._version_owner(), pk=self.pk, token=expected_version)
        alias = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        rollback_flag = _rollback_flag(alias)
        reset = _swap_target.set(target)
        try:
            super().save(*args, **kwargs)
        except DatabaseError as exc:
            if target.applied and is_zero_row_update(exc):
                _restore_rollback_flag(alias, rollback_flag)
                raise self._conflict(expected_version) from None
            if is_database_conflict(exc):
                raise self._conflict(expected_version, reason="database") from exc
            raise
        finally:
            _swap_target.reset(reset)
        if not target.applied:
            raise RuntimeError(
                "django-preconditions could not make this save a compare-and-swap: Django did "
                "not update the row through the model's base manager. Check that the model's "
                f"Meta.base_manager_name is {BASE_MANAGER_NAME!r} (system check "
                "preconditions.E020) and report the Django version if it is."
            )

    def delete(
        self,
        using: str | None = None,
        keep_parents: bool = False,
        *,
        expected_version: str | None = None,
    ) -> tuple[int, dict[str, int]]:
        """Delete the row; with an expected version (argument or :func:`expect_version`),
        only if it still carries that version, else :class:`VersionConflict`.

        A model that Django deletes with one statement (no cascades, no delete signals) is
        deleted with one statement here too: ``DELETE … WHERE pk = … AND version_token = …``.
        Otherwise the row is first claimed with a compare-and-swap UPDATE (which also locks
        it) and then deleted by Django's collector in the same transaction.
        """
        expectation = _expectation_for(self) if expected_version is None else None
        if expectation is not None:
            expected_version = expectation.token
        if expected_version is None:
            return super().delete(using=using, keep_parents=keep_parents)
        alias = using or router.db_for_write(type(self), instance=self)
        rollback_flag = _rollback_flag(alias)
        try:
            if can_fast_delete(self, alias) and not keep_parents:
                result = self._compare_and_swap_delete(alias, expected_version)
            else:
                with transaction.atomic(using=alias, savepoint=False):
                    claimed = (
                        type(self)
                        ._base_manager.using(alias)
                        .filter(pk=self.pk, **{VERSION_FIELD: expected_version})
                        .update(**{VERSION_FIELD: new_version_token()})
                    )
                    if not claimed:
                        raise self._conflict(expected_version)
                    result = super().delete(using=alias, keep_parents=keep_parents)
        except VersionConflict:
            _restore_rollback_flag(alias, rollback_flag)
            raise
        except DatabaseError as exc:
            if is_database_conflict(exc):
                raise self._conflict(expected_version, reason="database") from exc
            raise
        if expectation is not None:
            expectation.deleted = True
            expectation.written = True
        return result

    delete.alters_data = True  # type: ignore[attr-defined]

    def _conflict(self, expected_version: str, reason: str = "stale") -> VersionConflict:
        if reason == "database":
            message = f"The database reported a concurrent write to {self._meta.label} {self.pk}"
        else:
            message = (
                f"{self._meta.label} {self.pk} no longer has version {expected_version!r}: it "
                "was changed or deleted by another write"
            )
        return VersionConflict(
            message, model=type(self), pk=self.pk, expected_version=expected_version, reason=reason
        )

    def _compare_and_swap_delete(
        self, alias: str, expected_version: str
    ) -> tuple[int, dict[str, int]]:
        connection = connections[alias]
        meta = self._meta
        version_field = meta.get_field(VERSION_FIELD)
        pk_field = meta.pk
        assert isinstance(version_field, models.Field)
        assert pk_field is not None
        assert pk_field.column is not None
        assert version_field.column is not None
        quote = connection.ops.quote_name
        sql = (
            f"DELETE FROM {quote(meta.db_table)} "
            f"WHERE {quote(pk_field.column)} = %s AND {quote(version_field.column)} = %s"
        )
        params = [
            pk_field.get_db_prep_value(self.pk, connection),
            version_field.get_db_prep_value(expected_version, connection),
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            deleted = cursor.rowcount
        if deleted != 1:
            raise self._conflict(expected_version)
        setattr(self, pk_field.attname, None)
        return 1, {meta.label: 1}

    async def asave(self, *args: Any, expected_version: str | None = None, **kwargs: Any) -> None:
        await sync_to_async(self.save)(*args, expected_version=expected_version, **kwargs)

    asave.alters_data = True  # type: ignore[attr-defined]

    async def adelete(
        self,
        using: str | None = None,
        keep_parents: bool = False,
        *,
        expected_version: str | None = None,
    ) -> tuple[int, dict[str, int]]:
        return await sync_to_async(self.delete)(
            using=using, keep_parents=keep_parents, expected_version=expected_version
        )

    adelete.alters_data = True  # type: ignore[attr-defined]

    # -- validators --

    @property
    def etag(self) -> str:
        """The strong entity-tag of the stored state, e.g. ``"tZ1…"`` (quotes included)."""
        return format_entity_tag(self.version_token)

    @property
    def entity_tag(self) -> EntityTag:
        return EntityTag(self.version_token)

    @property
    def last_modified_http(self) -> str:
        """``Last-Modified`` as served: IMF-fixdate, whole seconds, never in the future."""
        return http_date(http_timestamp(self.last_modified))


def _rollback_flag(alias: str) -> bool | None:
    """The enclosing transaction's rollback flag, or ``None`` outside ``atomic()``."""
    if not connections[alias].in_atomic_block:
        return None
    return transaction.get_rollback(using=alias)


def _restore_rollback_flag(alias: str, flag: bool | None) -> None:
    """Undo Django's "needs rollback" mark after a compare-and-swap that matched no row.

    Django marks the enclosing transaction for rollback whenever an exception leaves
    ``save()``; here the UPDATE/DELETE itself succeeded (it matched zero rows), so the
    transaction is intact and the caller may go on using it, e.g. to read the current row
    for the 412 or to retry.
    """
    if flag is not None and connections[alias].in_atomic_block:
        transaction.set_rollback(flag, using=alias)


def _use_versioned_base_manager(sender: type[models.Model], **kwargs: Any) -> None:
    """Give every concrete versioned model our base manager, even when its ``Meta`` does not
    inherit ``VersionedModel.Meta`` (a common omission that would otherwise disable the
    compare-and-swap). A model naming another base manager is reported by check E020."""
    if (
        issubclass(sender, VersionedModel)
        and not sender._meta.abstract
        and sender._meta.base_manager_name is None
    ):
        sender._meta.base_manager_name = BASE_MANAGER_NAME
        sender._meta.__dict__.pop("base_manager", None)


class_prepared.connect(_use_versioned_base_manager)


# --- Rules managed in the admin -------------------------------------------------------------


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


class ProtectedEndpoint(VersionedModel):
    """A protection rule managed at run time in the Django admin.

    Enforced by :class:`~django_preconditions.middleware.PreconditionMiddleware` for views
    that do not protect themselves in code. A rule can add protection to a view, never
    remove protection that code or ``PRECONDITIONS["VIEWS"]`` declare. Being a
    ``VersionedModel`` itself, two admins editing one rule cannot overwrite each other.
    """

    view = models.CharField(
        max_length=255,
        unique=True,
        help_text=_(
            "URL name (with namespace, e.g. notes:detail), view dotted path "
            "(e.g. notes.views.note_detail) or route pattern (e.g. notes/<int:pk>/)."
        ),
    )
    methods = models.CharField(
        max_length=64,
        default="PUT,PATCH,DELETE",
        help_text=_("Comma-separated methods that must be conditional (POST, PUT, PATCH, DELETE)."),
    )
    required_headers = models.CharField(
        max_length=64,
        default="If-Match,If-Unmodified-Since",
        help_text=_("Comma-separated headers; any one of them satisfies the requirement."),
    )
    allow_wildcard = models.BooleanField(
        null=True,
        blank=True,
        default=None,
        help_text=_("Whether If-Match: * satisfies the requirement (empty: the global setting)."),
    )
    error_format = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text=_('"problem", "json", "drf" or a dotted path (empty: the global setting).'),
    )
    model_label = models.CharField(
        _("model"),
        max_length=200,
        blank=True,
        default="",
        help_text=_(
            'Optional "app_label.Model" (a VersionedModel): stale preconditions then get '
            "412 before the view runs, and the view's save/delete is a compare-and-swap."
        ),
    )
    lookup_url_kwarg = models.CharField(
        max_length=100,
        blank=True,
        default="",
        help_text=_("The URL keyword argument that identifies the object (with a model)."),
    )
    lookup_field = models.CharField(
        max_length=100,
        default="pk",
        help_text=_("The model field the URL keyword argument is matched against."),
    )
    enabled = models.BooleanField(default=True)
    note = models.TextField(blank=True, default="")

    class Meta(VersionedModel.Meta):
        verbose_name = _("protected endpoint")
        verbose_name_plural = _("protected endpoints")
        ordering = ("view",)

    def __str__(self) -> str:
        return self.view

    def clean(self) -> None:
        """Validate the rule the way the system checks validate ``VIEWS`` entries."""
        from django.core.exceptions import ValidationError

        from .checks import rule_errors

        errors = rule_errors(self.as_rule(), self.view)
        if errors:
            raise ValidationError(errors)

    def as_rule(self) -> dict[str, Any]:
        """The rule in the shape of a ``PRECONDITIONS["VIEWS"]`` entry."""
        rule: dict[str, Any] = {
            "methods": _split(self.methods),
            "required_headers": _split(self.required_headers),
        }
        if self.allow_wildcard is not None:
            rule["allow_wildcard"] = self.allow_wildcard
        if self.error_format:
            rule["error_format"] = self.error_format
        if self.model_label:
            rule["model"] = self.model_label
        if self.lookup_url_kwarg:
            rule["lookup_url_kwarg"] = self.lookup_url_kwarg
        if self.lookup_field and self.lookup_field != "pk":
            rule["lookup_field"] = self.lookup_field
        return rule
