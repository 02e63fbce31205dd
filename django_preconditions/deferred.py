"""The deferred guard: enforcement decided when the view writes the row.

For an adapter that must not read the row before the view (``PreconditionMiddleware``: the
view's own access control and method dispatch answer first, CONFORMANCE rules 12 and 13).
:meth:`Enforcer.begin_deferred <django_preconditions.enforcement.Enforcer.begin_deferred>`
returns a :class:`DeferredGuard`, which runs the same steps as
:class:`~django_preconditions.enforcement.Guard` at the moments the view allows.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, cast

from django.core.exceptions import PermissionDenied
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, models, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext_noop

from ._compat import hand_over_resources, write_alias
from ._frozen import quick_init
from .conditions import SAFE_METHODS, Decision, Outcome, Reason, Requirement
from .dbconflicts import conflict_from
from .enforcement import (
    Enforcer,
    Snapshot,
    conflict_aftermath,
    not_modified_instead_of,
    version_served_after_save,
)
from .headers import ETAG, LAST_MODIFIED
from .models import (
    MODIFIED_FIELD,
    VERSION_FIELD,
    VersionedModel,
    VersionExpectation,
    observe_loads,
    pop_expectation,
    read_version,
    register_expectation,
    version_root,
)
from .policy import Policy
from .transactions import WRITE_STATEMENTS, OtherWrites, atomic_request_aliases

__all__ = ["NO_MATCH", "DeferredGuard", "DeferredTarget", "rule_not_applicable"]

logger = logging.getLogger("django_preconditions")

#: A lookup value that names no row (a malformed id in the URL, an object the rule's field
#: cannot take): the view answers for it; a write the view makes anyway is refused.
NO_MATCH: Final = object()
_UNREAD: Final = object()
#: The view's own refusals of the caller or the method: answered as the view answered them.
_VIEW_REFUSALS: Final = frozenset({401, 403, 404, 405, 410})
#: The exceptions Django answers with one of them (403, 404).
_VIEW_REFUSAL_EXCEPTIONS: Final = (PermissionDenied, Http404)


@quick_init
@dataclass(frozen=True)
class DeferredTarget:
    """The row an adapter protects without loading it (the middleware): the model, and the
    field and value the URL names it by. ``model`` ``None``: a headers-only rule."""

    model: type[VersionedModel] | None
    lookup_attname: str = ""
    lookup_value: Any = NO_MATCH

    @property
    def unidentified(self) -> bool:
        """A rule's model, but a lookup value that names no row: which row a write is for is
        unknown, so no precondition about it can be checked (writes fail closed)."""
        return self.model is not None and self.lookup_value is NO_MATCH

    @property
    def by_pk(self) -> bool:
        """Whether the URL names the row by its primary key."""
        model = self.model
        return model is not None and self.lookup_attname == model._meta.pk.attname

    def alias(self) -> str:
        """The database the row is written to, where it is checked (rule 54)."""
        return write_alias(self.model) if self.model is not None else DEFAULT_DB_ALIAS


def rule_not_applicable(method: str) -> Decision:
    """The 428 for a write the protection rule cannot check (a broken rule, a lookup that
    names no row): refused until an administrator fixes the rule, never let through
    unchecked."""
    return Decision(
        Outcome.PRECONDITION_REQUIRED,
        Reason.PRECONDITION_MISSING,
        method,
        detail=gettext_noop(  # translated when the response is written
            "the protection rule for this endpoint cannot be applied, so the server refuses "
            "writes until an administrator fixes it"
        ),
        requirement=Requirement(methods=frozenset({method})),
    )


class _Refused(Exception):
    """Raised inside the view's ``save()``/``delete()`` of the protected row: the request is
    refused (400, 412 or 428); the guard answers once the view's writes are rolled back."""


class _DeferredExpectation(VersionExpectation):
    """The expectation registered for the target row: its ``token`` is decided when the view
    first writes (``save()``/``delete()`` of the row read it just before the compare-and-swap)."""

    def __init__(self, guard: DeferredGuard) -> None:
        assert guard.target.model is not None
        self._guard = guard
        super().__init__(model=guard.target.model, pk=None, token="", using=guard.alias)

    def matches(self, instance: models.Model, using: str | None = None) -> bool:
        if version_root(type(instance)) is not self.root:
            return False  # any class of the row: a proxy, a parent or a child (rule 53)
        guard = self._guard
        if guard.target.unidentified:
            # Any row of the model may be the one the URL meant: none is written unchecked.
            if not guard.decided:
                guard.decide_write()  # refuses; report mode lets an unconditional write by
            return False
        pk = guard.target_pk()
        if pk is NO_MATCH or instance.pk != pk:
            return False
        if using is None:
            using = write_alias(type(instance), instance=instance)
        if using == self.using or guard.write_elsewhere(using):
            # A new instance under the row's key: the view means to create the row (its own
            # lookup did not find it, see refusal()).
            guard.creating = instance._state.adding
            return True
        return False

    def _state(self) -> Any:
        # The token as decided, without deciding (``token`` would): a delete is recorded
        # after its statement ran.
        return (self._token, self.last_modified, self.written, self.deleted)

    @property
    def using(self) -> str:
        """The database the guard judges the row on (it follows the row: see
        :meth:`DeferredGuard.write_elsewhere`)."""
        return self._guard.alias

    @using.setter
    def using(self, value: str | None) -> None:
        pass  # decided by the guard

    @property
    def pk(self) -> Any:
        """The row's primary key: from the URL, or from the instance the view loaded."""
        pk = self._guard.target_pk()
        return None if pk is NO_MATCH else pk

    @pk.setter
    def pk(self, value: Any) -> None:
        pass  # decided by the guard

    @property
    def token(self) -> str | None:
        guard = self._guard
        if not guard.decided:
            guard.decide_write()  # sets the token, or raises the refusal
        # The row's own statement is the next one the guard watches (not when it follows the
        # row to another database).
        guard.row_write_pending = not self.written and guard.alias == guard.watched
        return self._token

    @token.setter
    def token(self, value: str | None) -> None:
        self._token = value


class DeferredGuard:
    """One request's enforcement when the adapter must not read the row before the view
    (the middleware: the view's own access control and method dispatch answer first, rules
    12 and 13). The same steps as :class:`Guard`, at the moments the view allows:

    - :meth:`open` before the view: watch what it loads (``from_db``) and, for an unsafe
      request, what it writes (``execute_wrapper``), and expect a version for the target row;
    - the view's **first write** (the row's ``save()``/``delete()``, or any other statement):
      :meth:`decide_write` evaluates the preconditions against the row as the view loaded it
      on the write database (else as stored there). A refusal (400, 412, 428) is raised
      before anything is written, and every later write of the request is refused too;
      otherwise the row's write is the compare-and-swap against that version (rule 44);
    - when the view writes something else before the row, the guard opens a transaction
      right then (unless one is open: ``ATOMIC_REQUESTS``, the view's own), so that a lost
      race rolls that back too (rule 51); a view whose only write is the row's
      compare-and-swap runs without one;
    - :meth:`finish` after the view: the validators, or a read's 304; :meth:`fail` answers
      the refusal or a lost race the view raised (412, or 503: rule 47).
    """

    def __init__(
        self, enforcer: Enforcer, request: HttpRequest, policy: Policy, target: DeferredTarget
    ) -> None:
        self.enforcer = enforcer
        self.request = request
        self.policy = policy
        self.target = target
        self._root = None if target.model is None else version_root(target.model)
        self.unsafe = request.method not in SAFE_METHODS
        # Where the row is written and checked (rule 54); a read is judged by what it loaded.
        self.alias = target.alias() if self.unsafe else DEFAULT_DB_ALIAS
        #: (instance, version token, last_modified) as loaded, the last few of the row.
        self.loads: list[tuple[VersionedModel, str, datetime.datetime | None]] = []
        self.expectation: _DeferredExpectation | None = None
        self.decided = False
        self.checked: str | None = None  # the version the preconditions were checked against
        self.refused: Decision | None = None
        self.refused_response: HttpResponse | None = None
        self.failed = False
        self.row_write_pending = False
        #: The view wrote before loading the row, undecided (see :meth:`_may_wait`), and the
        #: row's version read just before that write.
        self.waited = False
        self.before_writes: Any = _UNREAD
        #: A refusal answers without the row's version (decided after a view's non-2xx).
        self.version_withheld = False
        #: The view's write of the row is a save of a new instance (a create).
        self.creating = False
        self.transaction: Any = None  # the atomic block opened at a write before the row's
        #: The database whose statements the guard watches (and opens its transaction on): where
        #: the row is expected to be written. ``alias`` follows the row if the view writes it
        #: elsewhere; writes there are then the row's compare-and-swap, and nothing else.
        self.watched = self.alias
        self._watching: Any = None  # the execute_wrapper context
        self._other_writes: OtherWrites | None = None
        self._deciding = False
        self._rollback_flag: bool | None = None  # of a transaction open around the view
        self._previous_observer: Callable[[VersionedModel], None] | None = None

    # -- what the view loads and writes --

    def saw(self, instance: VersionedModel) -> None:
        """An instance loaded from the database while the view runs (``from_db``)."""
        target = self.target
        if target.unidentified or version_root(type(instance)) is not self._root:
            # An unidentified target: no load is the row (refused if written). Any class of
            # the row's model is the row: a proxy, a parent or a child (rule 53), as for its
            # writes (_DeferredExpectation.matches).
            return
        values = instance.__dict__
        if VERSION_FIELD not in values:
            return
        key, wanted = self._key(instance), target.lookup_value
        if key == wanted:
            # The row itself: rows found only by the same text in another case give way.
            self.loads = [load for load in self.loads if self._exact(load[0])]
        elif not _same_text(key, wanted) or any(self._exact(load[0]) for load in self.loads):
            return  # another row, or one of another case while the row itself is known
        self.loads.append((instance, values[VERSION_FIELD], values.get(MODIFIED_FIELD)))
        del self.loads[:-4]  # bounded: a view loading the row in a loop

    def _exact(self, instance: VersionedModel) -> bool:
        """Whether ``instance`` has the URL's lookup value itself."""
        return bool(self._key(instance) == self.target.lookup_value)

    def _key(self, instance: VersionedModel) -> Any:
        """The value the URL names the row by, on ``instance``: by primary key, the row's key
        whatever the class (a multi-table parent's ``id`` is the child's ``<parent>_ptr_id``);
        else the lookup field's value, ``NO_MATCH`` on a class without it."""
        if self.target.by_pk:
            return instance.pk
        return instance.__dict__.get(self.target.lookup_attname, NO_MATCH)

    def received(self, instance: VersionedModel) -> None:
        """The row as the view receives it in its arguments, loaded before the guard watched
        (a URL converter returning the object): the version the view's write starts from,
        as if the view had loaded it (no second read; the compare-and-swap catches a change
        since). An instance not loaded from the database, or without its version, is left
        out: the row is then read when judged."""
        values = instance.__dict__
        if instance._state.adding or VERSION_FIELD not in values:
            return
        self.loads.append((instance, values[VERSION_FIELD], values.get(MODIFIED_FIELD)))

    @property
    def loaded(self) -> VersionedModel | None:
        """The last instance of the target row the view loaded from the database."""
        return self.loads[-1][0] if self.loads else None

    def target_pk(self) -> Any:
        loaded = self.loaded
        target = self.target
        if target.by_pk:
            if loaded is not None:
                key = loaded.pk
                if key != target.lookup_value and _same_text(key, target.lookup_value):
                    # A text key the view found in another case (pk__iexact, MySQL's
                    # collation): that row is the one it writes (see saw()).
                    return key
            return target.lookup_value
        return loaded.pk if loaded is not None else NO_MATCH

    def observe(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        """``execute_wrapper`` on the write database: the view's first write decides; a write
        before the row's opens the transaction a lost race rolls back."""
        if self._deciding or not sql.lstrip()[:7].upper().startswith(WRITE_STATEMENTS):
            return execute(sql, params, many, context)
        if self.refused is not None:
            raise _Refused(self.refused.status)  # also after a view swallowed the refusal
        if not self.decided:
            if self.target.model is None:
                self._decide_headers_only()
            elif self._may_wait():
                # The view writes before it has loaded the row (an access log before its own
                # permission check, say): a 412 now would answer a caller the view may yet
                # refuse, with the row's version (rules 12, 13). The write joins the guard's
                # transaction; the row's write decides, or else the end of the view — against
                # the version read now, before anything the view writes.
                self._open_transaction()
                if not self.waited:
                    self.waited = True
                    self._deciding = True  # the read is the guard's own
                    try:
                        self.before_writes = self.stored_version()
                    finally:
                        self._deciding = False
                return execute(sql, params, many, context)
            else:
                self.decide_write()
        if self.row_write_pending:
            self.row_write_pending = False  # the row's own write: one statement, or a savepoint
        else:
            self._open_transaction()
        return execute(sql, params, many, context)

    def _may_wait(self) -> bool:
        """Whether a write before the row's may run undecided — loaded or not, the row does
        not tell whether the view has authorised the caller yet (an access log written before
        its own permission check) — because the guard can hold what it writes in its own
        transaction, to roll back if the request is refused later (not inside a transaction
        the guard does not end, e.g. ``ATOMIC_REQUESTS``, whose view commits before the guard
        settles)."""
        return (
            (self.expectation is not None or self.target.model is None)
            and not self.target.unidentified
            and (self.transaction is not None or not connections[self.watched].in_atomic_block)
        )

    def _decide_headers_only(self) -> None:
        """The first write of a view under a headers-only rule: the headers are judged on
        their own. Headers that pass decide the request (no transaction: nothing can refuse
        it later). A refusal (428, 400) is held back when the guard can hold the view's writes
        in its own transaction: the view may yet refuse the caller itself (an access log
        written before its own permission check), and its 401/403/404/405/410 answers first
        (rule 12); the end of the view decides again and rolls the writes back if refused."""
        if self.waited:
            return  # held back at an earlier write: the end of the view decides
        try:
            self.decide_write()
        except _Refused:
            if not self._may_wait():
                raise
            self.refused = None
            self.waited = True
            self._open_transaction()

    def _before_other_write(self) -> None:
        """A write to a database the guard's transaction does not cover, while writes of a
        view that loaded the row (or of a view under a headers-only rule) wait undecided:
        decided first, since that write would stand after a refusal (rule 51). (Before the row
        is loaded, such writes run undecided, as documented.)"""
        if (
            self.waited
            and (self.loads or self.target.model is None)
            and not self.decided
            and self.refused is None
        ):
            self.decide_write()  # raises the refusal

    @property
    def _refusal_held_back(self) -> bool:
        """A headers-only rule refused the view's first write and holds the refusal back
        until the end of the view (see :meth:`_decide_headers_only`)."""
        return self.target.model is None and self.waited and not self.decided

    def _open_transaction(self) -> None:
        """Open the guard's transaction at a write before the row's, so that a refusal or a
        lost race rolls it back too (not needed inside a transaction already open)."""
        expectation = self.expectation
        if (
            self.transaction is None
            and ((expectation is not None and not expectation.written) or self._refusal_held_back)
            and not connections[self.watched].in_atomic_block
        ):
            self.transaction = transaction.atomic(using=self.watched)
            self.transaction.__enter__()

    def write_elsewhere(self, alias: str) -> bool:
        """The view writes the row to ``alias``, not to the database the guard expected
        (a queryset ``using()`` another database, a router deciding by instance): before the
        row was judged, the guard follows the write there, so the row is checked where it is
        written (rule 54) and the write stays a compare-and-swap. Once judged, a write of the
        same key elsewhere is another row (a copy) and is left alone."""
        expectation = self.expectation
        if self.decided or self.refused is not None or expectation is None or expectation.written:
            return False
        self._follow(alias)
        return True

    def _follow(self, alias: str) -> None:
        """Check and compare-and-swap the row on ``alias`` from now on."""
        self.alias = alias
        connection = connections[alias]
        self._rollback_flag = (
            transaction.get_rollback(using=alias) if connection.in_atomic_block else None
        )

    # -- decisions --

    def stored_version(self) -> tuple[str, datetime.datetime | None] | None:
        """The row's version and time: as the view loaded it on the write database in this
        request (no second read: the compare-and-swap still catches a change since), else
        read there (rule 54)."""
        pk = self.target_pk()
        for instance, token, modified in reversed(self.loads):
            if instance._state.db == self.alias and (pk is NO_MATCH or instance.pk == pk):
                if modified is None and MODIFIED_FIELD not in instance.__dict__:
                    # The view's query deferred it: read now (Django's deferred loading), as
                    # new as the token loaded with the row or newer — at worst a 412, never an
                    # If-Unmodified-Since ignored as if the model kept no time (rules 23, 25).
                    modified = instance.last_modified
                return token, modified
        if self.before_writes is not _UNREAD:
            return cast(
                "tuple[str, datetime.datetime | None] | None", self.before_writes
            )  # read before the first write
        target = self.target
        if target.model is None:
            return None
        if pk is not NO_MATCH:
            lookup = {"pk": pk}
        elif target.lookup_value is not NO_MATCH:
            lookup = {target.lookup_attname: target.lookup_value}
        else:
            return None
        return read_version(target.model._base_manager.using(self.alias).filter(**lookup))

    def decide_write(self) -> None:
        """The view writes: evaluate the preconditions against the row's version and keep the
        token the row's compare-and-swap must find (``None``: a write of the row must create
        it, an INSERT that fails on conflict, rule 50); raise :class:`_Refused` otherwise.
        A headers-only rule has no row: the headers are judged on their own. A target the URL
        does not identify is refused (:meth:`_unidentified`)."""
        if self.refused is not None:
            raise _Refused(self.refused.status)  # every write after a refusal is refused
        loaded = self.loaded
        if loaded is not None:
            # Where the view's instance of the row is written (its database without a router,
            # the router's choice with one): the row is judged there (rule 54), also when the
            # view's first write is another row on the database the guard expected.
            alias = write_alias(type(loaded), instance=loaded)
            if alias != self.alias:
                self._follow(alias)
        self._deciding = True
        try:
            if self.target.model is None:
                snapshot = None
            else:
                row = self.stored_version()
                snapshot = Snapshot.of_version(*row) if row else Snapshot.absent()
            decision = self.enforcer.decide(self.request, snapshot, self.policy)
        finally:
            self._deciding = False
        if self.target.unidentified:
            decision = self._unidentified(decision)
        if not decision.proceeds:
            self.refused = decision
            raise _Refused(decision.status)
        self.decided = True
        self.checked = None if snapshot is None or not snapshot.state.exists else row[0]  # type: ignore[index]
        if self.checked is not None and loaded is not None and loaded._state.db != self.alias:
            # The view's copy was loaded from another database (a replica): its fields are
            # those of the version it was read at, and written over a newer row they would
            # revert it. The compare-and-swap expects the copy's version: a lagging copy is
            # refused (412) rather than overwriting (rule 44); rule 54 still judged the
            # headers against the row where it is written.
            self.checked = self.loads[-1][1]
        if self.expectation is not None:
            self.expectation.token = self.checked

    def _unidentified(self, decision: Decision) -> Decision:
        """The decision for a write when the rule's lookup names no row: the stored version
        is unknown, so a precondition about it (``If-Match``, ``If-None-Match: *``,
        ``If-Unmodified-Since``) can be neither passed nor failed truthfully — a 412 would
        send a correct client round for ever, a pass would write unchecked. Refused with the
        rule's 428 (logged for the administrator). A malformed header keeps its 400 (rule 5);
        report mode keeps its unconditional write, which checks nothing."""
        if decision.outcome is Outcome.MALFORMED or (
            decision.proceeds and decision.unmet is not None
        ):
            return decision
        target = self.target
        assert target.model is not None
        logger.error(
            "django-preconditions refused %s %s: the protection rule's lookup does not "
            "identify the row (the value in the URL is not one %s.%s takes, e.g. a URL "
            "converter returns another object), so its preconditions cannot be checked. Make "
            "the rule's lookup_url_kwarg and lookup_field name the row the view writes, or "
            "protect the view in code.",
            self.request.method,
            self.request.path,
            target.model._meta.label,
            target.lookup_attname,
        )
        return rule_not_applicable(decision.method)

    def settle(self, response: HttpResponse) -> HttpResponse:
        """The response after the view: its own, with validators, or a refusal."""
        if self.refused is not None:
            return self.refusal()
        enforcer = self.enforcer
        if not self.unsafe:
            if response.status_code not in _JUDGED_READS or not self.loads:
                return response
            # The row as the view shows it: after its own save, if it saved (a view counter)
            # — as stored, read once then, since the save may have been rolled back.
            instance, token, modified = self.loads[-1]
            snapshot = Snapshot.of_instance(instance)
            if instance.version_token != token:
                as_loaded = Snapshot.of_version(token, modified, instance)
                snapshot = version_served_after_save(instance, as_loaded, token)
            decision = enforcer.decide(self.request, snapshot, self.policy)
            if decision.outcome is Outcome.NOT_MODIFIED:
                return not_modified_instead_of(response, snapshot)
            if not decision.proceeds:
                return self.refuse(decision, snapshot)
            # The validators the decision was made with, not the view's own (or an inner
            # ConditionalGetMiddleware's digest of the body): a client sending them back must
            # match the row (rules 19, 28).
            for name in (ETAG, LAST_MODIFIED):
                if name in response:
                    del response[name]
            return enforcer.finish(self.request, response, snapshot, None)
        if self.expectation is not None and self.expectation.written:
            return enforcer.finish(self.request, response, Snapshot.absent(), self.expectation)
        if self.waited and not self.decided and response.status_code not in _VIEW_REFUSALS:
            # It wrote before loading the row and then answered without writing the row (a
            # success, a redirect, a validation error): judged now, its writes rolled back if
            # refused. A view that refused the caller itself (401/403/404/405/410) keeps its
            # answer, and no version is shown (rules 12, 13).
            # A redirect may be the view's own refusal (to a login page, say): the refusal
            # then shows no version (rule 13).
            self.version_withheld = not 200 <= response.status_code < 300
            try:
                self.decide_write()
            except _Refused:
                return self.refusal()
            return response
        # A view that wrote was judged at its first write. One that loaded the row and wrote
        # nothing — it refused the body (rule 11), or found nothing to change — is judged now,
        # as the decorator judges before the view: a missing or stale precondition wins
        # (428/412); a success carries the row's validators (rule 41).
        loaded = self.loaded
        status = response.status_code
        if self.decided or loaded is None or not (status in (400, 422) or 200 <= status < 300):
            return response
        known = Snapshot.of_instance(loaded)
        decision = enforcer.decide(self.request, known, self.policy)
        if not decision.proceeds:
            return self.refuse(decision, known)
        if 200 <= status < 300:
            return enforcer.finish(self.request, response, known, None)
        return response

    def refuse(self, decision: Decision, snapshot: Snapshot) -> HttpResponse:
        response = self.enforcer.refusal(self.request, decision, snapshot, self.policy)
        assert response is not None
        return response

    def refusal(self) -> HttpResponse:
        """The answer to a write refused by the preconditions, with the row's current version
        read after the view's writes are rolled back: outside the transaction's snapshot, so
        the latest committed one also under REPEATABLE READ (rule 55)."""
        assert self.refused is not None
        if self.refused_response is None:
            self.rollback_now()
            if self._rollback_flag is not None and connections[self.alias].in_atomic_block:
                # Refused before any statement of the write ran: the transaction around the
                # view is intact; undo the "needs rollback" mark Django set when the refusal
                # left save().
                transaction.set_rollback(self._rollback_flag, using=self.alias)
            pk = self.target_pk()
            # A view that creates the row without having loaded it did not find it (its
            # queryset hides the row from this caller, say): the row's version is not shown
            # (rule 13). A view that updates the row knows it (a load with .only() or
            # .values(), an update()): the 412 names the current version (rule 36).
            current = (
                None
                if self.version_withheld or (self.creating and not self.loads)
                else Snapshot.current(self.target.model, None if pk is NO_MATCH else pk, self.alias)
            )
            self.refused_response = self.refuse(self.refused, current or Snapshot.absent())
        return self.refused_response

    def rollback_now(self) -> None:
        """Roll back the transaction the guard opened before answering a refusal or a lost
        race (rule 51; the current version is then read fresh: rule 55)."""
        self._close_transaction(rollback=True)

    def conflict(self, exception: BaseException) -> HttpResponse | None:
        """A write that lost the race inside the view: 412 with the current version, or 503
        when the database refused a write whose row did not change (rules 44, 47, 55)."""
        conflict = conflict_from(exception)
        if conflict is None:
            return None
        self.rollback_now()
        checked = Snapshot.of_version(self.checked, None) if self.checked is not None else None
        method = self.request.method or "PUT"
        passed = Decision(
            Outcome.PROCEED,
            Reason.PRECONDITIONS_PASSED,
            method,
            requirement=self.policy.requirement,
        )
        # Whatever the view wrote before the row on the watched database ran in the guard's
        # transaction, just rolled back (or in ATOMIC_REQUESTS'); only the row's own first
        # write may stand there. Writes to other databases stand.
        others = self._other_writes
        after = conflict_aftermath(
            conflict,
            checked,
            self.expectation,
            rolled_back=others is None or others.rolled_back(self.watched),
        )
        return self.enforcer.answer_conflict(
            self.request, self.policy, passed, conflict, checked, after
        )

    # -- life cycle --

    def open(self) -> None:
        """Before the view: watch what it loads and, for an unsafe request, what it writes,
        with the row's expectation registered."""
        if self.target.model is not None:
            self._previous_observer = observe_loads(self.saw)
        if self.unsafe:
            if self.target.model is not None:
                self.expectation = register_expectation(_DeferredExpectation(self))
            connection = connections[self.watched]
            if connection.in_atomic_block:
                self._rollback_flag = transaction.get_rollback(using=self.watched)
            self._watching = connection.execute_wrapper(self.observe)
            self._watching.__enter__()
            # Writes to other databases than the watched one (and ATOMIC_REQUESTS') stand
            # after a refusal: the request must not run again then.
            others = OtherWrites(
                (self.watched, *atomic_request_aliases()), before_write=self._before_other_write
            )
            self._other_writes = others.__enter__()

    def fail(self, exception: BaseException) -> HttpResponse | None:
        """The view raised: the refusal, a lost race answered, or ``None`` (not ours)."""
        self.failed = True
        if isinstance(exception, _Refused):
            return self.refusal()
        if self._refusal_held_back and not isinstance(exception, _VIEW_REFUSAL_EXCEPTIONS):
            # A headers-only refusal held back at the view's first write (see
            # _decide_headers_only), and the view failed since — also because of the
            # transaction holding its writes (a durable atomic block): the request was refused
            # at that write; the view's own refusal of the caller (403, 404) keeps its answer.
            try:
                self.decide_write()
            except _Refused:
                return self.refusal()
        return self.conflict(exception)

    def finish(self, response: HttpResponse | None) -> HttpResponse | None:
        """Settle the response and commit, or roll back a refused or failed request
        (``response`` ``None``: the request is abandoned). The guard's transaction is always
        closed, also when settling raises."""
        if not self.unsafe:
            # A read watched no writes, expected no version and opened no transaction: it
            # only stops watching what the view loads.
            try:
                answer = self.settle(response) if response is not None else None
                _hand_over(response, answer)
                return answer
            finally:
                if self.target.model is not None:
                    observe_loads(self._previous_observer)
        if response is None:
            self.failed = True
        final: HttpResponse | None = None
        try:
            final = self.settle(response) if response is not None else None
        except BaseException:
            self.failed = True
            raise
        finally:
            final = self._close(response, final)
        _hand_over(response, final)
        return final

    def _close_transaction(self, *, rollback: bool) -> None:
        pending, self.transaction = self.transaction, None
        if pending is not None:
            if rollback:
                transaction.set_rollback(True, using=self.watched)
            pending.__exit__(None, None, None)

    def _close(self, response: HttpResponse | None, final: HttpResponse | None) -> Any:
        try:
            rollback = self.failed or final is None or final is not response
            try:
                self._close_transaction(rollback=rollback)
            except DatabaseError as exc:  # e.g. a serialization failure at COMMIT
                answer = self.conflict(exc)
                if answer is None:
                    raise
                final = answer
            return final
        finally:
            self.transaction = None
            watching, self._watching = self._watching, None
            if watching is not None:
                watching.__exit__(None, None, None)
            if self._other_writes is not None:
                self._other_writes.__exit__(None, None, None)
            if self.expectation is not None:
                pop_expectation(self.expectation)
            if self.target.model is not None:
                observe_loads(self._previous_observer)


#: Read responses the middleware judges: a full one, and a part of one (RFC 9110 §13.2.2:
#: preconditions are evaluated before Range).
_JUDGED_READS: Final = frozenset({200, 206})


def _same_text(loaded: Any, wanted: Any) -> bool:
    """Whether a loaded row's lookup value is the URL's text in another case — what a
    case-insensitive lookup (``slug__iexact``) or collation (MySQL's default) finds for it;
    missing it would leave the row the view writes unidentified. Taken only while no row with
    the URL's exact value was loaded."""
    return (
        isinstance(loaded, str)
        and isinstance(wanted, str)
        and loaded.casefold() == wanted.casefold()
    )


def _hand_over(response: HttpResponse | None, final: HttpResponse | None) -> None:
    """A response the guard replaced (by a 304 or a refusal) is never sent, so never closed:
    its file or stream is closed with the response sent instead."""
    if response is not None and final is not None and final is not response:
        hand_over_resources(response, final)
