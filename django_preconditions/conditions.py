"""The evaluation core: request headers and resource state in, a decision out.

Every adapter (function-view decorators, the class-based-view mixin, DRF, the middleware)
calls :func:`evaluate` and renders the :class:`Decision` it returns; none of them parses a
header or orders the preconditions itself. The order is RFC 9110 §13.2.2; the requirement
that unsafe methods carry a precondition (428) is RFC 6585 §3 and CONFORMANCE section H.

:func:`evaluate` runs these steps in order, as Django's ``get_conditional_response`` does;
each returns the decision or passes on:

0. OPTIONS/TRACE/CONNECT are not evaluated (rule 14); nothing sent and nothing required
   proceeds at once; a single ``If-Match`` that is exactly the current strong tag, or on a
   read a single ``If-None-Match`` that is exactly the current tag, is decided at once
   (the decision steps 1-5 would reach, without parsing: the commonest conditional requests);
1. parse the headers (400 for a malformed validator on a write);
2. the requirement (428; report mode evaluates what was sent and records the 428); for a
   resource without a modification time, If-Match stands in for If-Unmodified-Since
   (rule 25, :func:`requirement_for`);
3. If-Match, or else If-Unmodified-Since (412);
4. If-None-Match (304 on reads, 412 on writes), or else If-Modified-Since (304);
5. proceed.

Dates in the future are judged against ``now``: an ``If-Modified-Since`` later than now is
ignored, and an ``If-Unmodified-Since`` later than now does not satisfy the requirement
unless the policy allows wildcards — it matches every version, like ``If-Match: *``
(rules 56, 57).
"""

from __future__ import annotations

import enum
import functools
import operator
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Final

from django.utils.translation import gettext_noop

from ._frozen import quick_init
from .exceptions import MalformedHeader
from .headers import (
    OPAQUE_TEXT,
    WILDCARD,
    EntityTag,
    TagPairs,
    entity_tag_pairs,
    parse_http_date,
)

__all__ = [
    "IF_MATCH",
    "IF_MODIFIED_SINCE",
    "IF_NONE_MATCH",
    "IF_UNMODIFIED_SINCE",
    "Decision",
    "Outcome",
    "Reason",
    "Requirement",
    "ResourceState",
    "evaluate",
]

IF_MATCH: Final = "If-Match"
IF_NONE_MATCH: Final = "If-None-Match"
IF_UNMODIFIED_SINCE: Final = "If-Unmodified-Since"
IF_MODIFIED_SINCE: Final = "If-Modified-Since"
#: The conditional headers, in the order they are evaluated (RFC 9110 §13.2.2).
CONDITIONAL_HEADERS: Final = (IF_MATCH, IF_NONE_MATCH, IF_UNMODIFIED_SINCE, IF_MODIFIED_SINCE)

SAFE_METHODS: Final = frozenset({"GET", "HEAD"})
# Methods that never evaluate preconditions (rule 14).
IGNORED_METHODS: Final = frozenset({"OPTIONS", "TRACE", "CONNECT"})


class Outcome(enum.Enum):
    """What the adapter must do."""

    PROCEED = 200
    NOT_MODIFIED = 304
    MALFORMED = 400
    PRECONDITION_FAILED = 412
    PRECONDITION_REQUIRED = 428

    @property
    def status(self) -> int:
        return self.value


class Reason(str, enum.Enum):
    """Why: machine-readable codes used in error bodies, signals and logs."""

    NOT_EVALUATED = "not_evaluated"
    STATE_UNKNOWN = "state_unknown"
    NO_PRECONDITIONS = "no_preconditions"
    PRECONDITIONS_PASSED = "preconditions_passed"
    MALFORMED_IF_MATCH = "malformed_if_match"
    MALFORMED_IF_NONE_MATCH = "malformed_if_none_match"
    PRECONDITION_MISSING = "precondition_missing"
    WILDCARD_NOT_ACCEPTED = "wildcard_not_accepted"
    UNMODIFIED_SINCE_IN_FUTURE = "if_unmodified_since_in_future"
    IF_MATCH_FAILED = "if_match_failed"
    IF_MATCH_NO_CURRENT_REPRESENTATION = "if_match_no_current_representation"
    IF_UNMODIFIED_SINCE_FAILED = "if_unmodified_since_failed"
    IF_NONE_MATCH_FAILED = "if_none_match_failed"
    NOT_MODIFIED = "not_modified"

    def __str__(self) -> str:
        return self.value


@quick_init
@dataclass(frozen=True)
class ResourceState:
    """What the server knows of the target resource before the method runs.

    ``exists`` is whether there is a current representation; ``etag`` its entity-tag (``None``
    when the resource has none); ``last_modified`` whole seconds since the epoch, or ``None``.
    """

    exists: bool
    etag: EntityTag | None = None
    last_modified: int | None = None

    @classmethod
    def absent(cls) -> ResourceState:
        return cls(exists=False)


@dataclass(frozen=True)
class Requirement:
    """The policy the core needs to decide 428: which methods must carry which headers."""

    methods: frozenset[str]
    accepted_headers: frozenset[str] = frozenset({IF_MATCH, IF_UNMODIFIED_SINCE})
    allow_wildcard: bool = False
    #: Report mode: a missing precondition is reported (``Decision.unmet``), not refused.
    report_only: bool = False


@quick_init
@dataclass(frozen=True)
class Decision:
    """The outcome and the facts behind it, enough for any adapter to render the response."""

    outcome: Outcome
    reason: Reason
    method: str
    header: str | None = None
    detail: str = ""
    malformed: MalformedHeader | None = None
    requirement: Requirement | None = None
    # Headers that were present but played no part (ignored by precedence or invalid).
    ignored: tuple[str, ...] = field(default=())
    #: Report mode: the 428 this request would have got in enforce mode (it proceeds).
    unmet: Decision | None = None

    @property
    def status(self) -> int:
        return self.outcome.status

    @property
    def proceeds(self) -> bool:
        return self.outcome is Outcome.PROCEED

    def lost_race(self, *, created: bool = False) -> Decision:
        """The 412 for a request whose preconditions passed but whose compare-and-swap write
        then found another version (rule 44) — or, ``created``, whose create-only write found
        the row created by another request (rule 50)."""
        if created:
            return Decision(
                Outcome.PRECONDITION_FAILED,
                Reason.IF_NONE_MATCH_FAILED,
                self.method,
                IF_NONE_MATCH,
                "another request created the resource while yours was being processed",
                requirement=self.requirement,
            )
        return Decision(
            Outcome.PRECONDITION_FAILED,
            Reason.IF_MATCH_FAILED,
            self.method,
            self.header,
            gettext_noop(
                "another request changed or deleted the resource while yours was being processed"
            ),
            requirement=self.requirement,
        )


_OPAQUE_OF: Final = operator.itemgetter(0)  # of an (opaque, weak) pair


def _if_match_passes(tags: TagPairs | str, resource: ResourceState, *, weak_if_match: bool) -> bool:
    if not resource.exists:
        return False  # "*" and every tag need a current representation
    if tags == WILDCARD:
        return True
    current = resource.etag
    if current is None:
        return False
    # EntityTag.weak_match()/strong_match(), over the list in C (a list may hold thousands).
    if weak_if_match:
        return current.opaque in map(_OPAQUE_OF, tags)
    return not current.weak and (current.opaque, False) in tags  # tags are (opaque, weak)


def _if_none_match_passes(tags: TagPairs | str, resource: ResourceState) -> bool:
    if not resource.exists:
        return True
    if tags == WILDCARD:
        return False
    current = resource.etag
    if current is None:
        return True
    return current.opaque not in map(_OPAQUE_OF, tags)  # EntityTag.weak_match(), in C


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    return None if value is None else str(value)


@dataclass
class _Conditions:
    """A request's conditional headers, parsed: what :func:`evaluate`'s steps judge."""

    method: str
    raw: tuple[str | None, ...]  # If-Match, If-None-Match, If-Unmodified-Since, If-Modified-Since
    if_match: TagPairs | str | None = None
    if_none_match: TagPairs | str | None = None
    unmodified_since: int | None = None
    modified_since: int | None = None
    #: If-Unmodified-Since only means something when the resource has a modification date
    #: (RFC 9110 §13.1.4, rule 25).
    unmodified_usable: bool = False
    #: Headers present that play no part (ignored by precedence or invalid).
    ignored: list[str] = field(default_factory=list)

    @property
    def present(self) -> bool:
        return self.raw != (None, None, None, None)

    def decision(
        self,
        outcome: Outcome,
        reason: Reason,
        header: str | None = None,
        detail: str = "",
        requirement: Requirement | None = None,
    ) -> Decision:
        return Decision(
            outcome,
            reason,
            self.method,
            header,
            detail,
            requirement=requirement,
            ignored=tuple(self.ignored),
        )


#: Decisions are immutable: the "nothing to evaluate" ones (most requests) are made once per
#: method, reason and requirement. Only for the usual methods, so that arbitrary method
#: names sent by clients cannot grow the cache.
_PROCEED: dict[tuple[str, Reason, Requirement | None], Decision] = {}
_CACHED_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})
_PROCEED_LIMIT: Final = 4096


def _proceed(method: str, reason: Reason, requirement: Requirement | None) -> Decision:
    key = (method, reason, requirement)
    decision = _PROCEED.get(key)
    if decision is None:
        decision = Decision(Outcome.PROCEED, reason, method, requirement=requirement)
        if method in _CACHED_METHODS and len(_PROCEED) < _PROCEED_LIMIT:
            _PROCEED[key] = decision
    return decision


#: The 304 decision of a read whose ``If-None-Match`` names the current tag, per method.
_NOT_MODIFIED: dict[str, Decision] = {}


def _exact_match(
    method: str,
    headers: Mapping[str, str],
    resource: ResourceState,
    requirement: Requirement | None,
) -> Decision | None:
    """The two commonest conditional requests, decided without parsing a header: a single
    ``If-Match`` that is exactly the current strong tag (a write proving its version), and on
    a read a single ``If-None-Match`` that is exactly the current tag (a revalidation). The
    decision is the one the full evaluation reaches; anything else (a list, whitespace, a
    weak or wildcard tag, a policy that does not accept ``If-Match``) returns ``None`` and
    goes the whole way."""
    tag = resource.etag
    if tag is None or not resource.exists:
        return None
    opaque = tag.opaque
    value = headers.get(IF_MATCH)
    if value is not None:
        if tag.weak or value != f'"{opaque}"' or OPAQUE_TEXT.fullmatch(opaque) is None:
            return None
        if (
            requirement is not None
            and method in requirement.methods
            and method not in SAFE_METHODS
            and IF_MATCH not in requirement.accepted_headers
        ):
            return None  # the policy does not accept If-Match: 428 (step 2)
        return _proceed(method, Reason.PRECONDITIONS_PASSED, requirement)
    value = headers.get(IF_NONE_MATCH)
    if value is None or method not in SAFE_METHODS:
        return None
    if value != (f'W/"{opaque}"' if tag.weak else f'"{opaque}"'):
        return None
    if OPAQUE_TEXT.fullmatch(opaque) is None:
        return None
    decision = _NOT_MODIFIED.get(method)
    if decision is None:
        decision = _NOT_MODIFIED[method] = Decision(
            Outcome.NOT_MODIFIED, Reason.NOT_MODIFIED, method, IF_NONE_MATCH
        )
    return decision


def _parse(
    method: str, headers: Mapping[str, str], resource: ResourceState | None, now: int
) -> _Conditions | Decision:
    """Step 1: parse, or 400. A malformed If-Match is never treated as absent (rule 5). A
    malformed If-None-Match is ignored where that is harmless (GET/HEAD send the full
    response, as Django does) and refused elsewhere, so a conditional write never becomes
    unconditional. Invalid dates are ignored (rule 7); so is an If-Modified-Since in the
    future (rule 57)."""
    raw = (
        _header(headers, IF_MATCH),
        _header(headers, IF_NONE_MATCH),
        _header(headers, IF_UNMODIFIED_SINCE),
        _header(headers, IF_MODIFIED_SINCE),
    )  # in CONDITIONAL_HEADERS' order, without a generator
    raw_if_match, raw_if_none_match, raw_unmodified, raw_modified = raw
    parsed = _Conditions(method, raw)
    if raw_if_match is not None:
        try:
            parsed.if_match = entity_tag_pairs(IF_MATCH, raw_if_match)
        except MalformedHeader as exc:
            return Decision(
                Outcome.MALFORMED, Reason.MALFORMED_IF_MATCH, method, IF_MATCH, exc.problem, exc
            )
    if raw_if_none_match is not None:
        try:
            parsed.if_none_match = entity_tag_pairs(IF_NONE_MATCH, raw_if_none_match)
        except MalformedHeader as exc:
            if method not in SAFE_METHODS:
                reason = Reason.MALFORMED_IF_NONE_MATCH
                return Decision(Outcome.MALFORMED, reason, method, IF_NONE_MATCH, exc.problem, exc)
            parsed.ignored.append(IF_NONE_MATCH)
    _parse_dates(parsed, raw_unmodified, raw_modified, resource, now)
    return parsed


def _parse_dates(
    parsed: _Conditions,
    raw_unmodified: str | None,
    raw_modified: str | None,
    resource: ResourceState | None,
    now: int,
) -> None:
    unmodified = parse_http_date(raw_unmodified) if raw_unmodified is not None else None
    if raw_unmodified is not None and unmodified is None:
        parsed.ignored.append(IF_UNMODIFIED_SINCE)  # invalid date: ignored (rule 7)
    modified = parse_http_date(raw_modified) if raw_modified is not None else None
    if modified is not None and modified > now:
        modified = None  # invalid, RFC 7232 §3.3 (rule 57)
        parsed.ignored.append(IF_MODIFIED_SINCE)
    parsed.unmodified_since, parsed.modified_since = unmodified, modified
    parsed.unmodified_usable = unmodified is not None and (
        resource is None or resource.last_modified is not None
    )
    if unmodified is not None and (not parsed.unmodified_usable or parsed.if_match is not None):
        parsed.ignored.append(IF_UNMODIFIED_SINCE)  # no date to compare (rule 25), or rule 15


def requirement_for(requirement: Requirement, resource: ResourceState) -> Requirement:
    """``requirement`` as it applies to ``resource``. A resource that exists without a
    modification time (a model versioned by its token alone) cannot be named by
    ``If-Unmodified-Since`` (rule 25): ``If-Match`` stands in for it, so that a policy that
    accepts the date alone still leaves the client a way to write, and the 428 names it."""
    if (
        resource.last_modified is not None
        or not resource.exists
        or IF_UNMODIFIED_SINCE not in requirement.accepted_headers
    ):
        return requirement
    return _undated(requirement)


@functools.lru_cache(maxsize=64)
def _undated(requirement: Requirement) -> Requirement:
    accepted = frozenset(undated_headers(tuple(requirement.accepted_headers)))
    return replace(requirement, accepted_headers=accepted)


def undated_headers(accepted: tuple[str, ...]) -> tuple[str, ...]:
    """The accepted headers ``accepted`` (in order) for a resource without a modification
    time: ``If-Match`` in place of ``If-Unmodified-Since`` (rule 25). The 428's guidance and
    the OpenAPI schema name these."""
    if IF_UNMODIFIED_SINCE not in accepted:
        return accepted
    return tuple(
        dict.fromkeys(IF_MATCH if name == IF_UNMODIFIED_SINCE else name for name in accepted)
    )


def _unmet_requirement(
    parsed: _Conditions, requirement: Requirement | None, now: int
) -> Decision | None:
    """Step 2: the 428 — only for the methods the policy protects (rule 32)."""
    method = parsed.method
    if requirement is None or method not in requirement.methods or method in SAFE_METHODS:
        return None
    unmodified = parsed.unmodified_since
    missing = _requirement_gap(
        requirement,
        parsed.if_match,
        parsed.unmodified_usable,
        parsed.if_none_match,
        parsed.raw[2],
        unmodified_future=unmodified is not None and unmodified > now,
        carries_conditions=parsed.present,
    )
    if missing is None:
        return None
    reason, detail = missing
    return parsed.decision(
        Outcome.PRECONDITION_REQUIRED, reason, detail=detail, requirement=requirement
    )


def _if_match_step(
    parsed: _Conditions, resource: ResourceState, weak: bool, requirement: Requirement | None
) -> Decision | None:
    """Step 3 (RFC 9110 §13.2.2, 1): If-Match; else If-Unmodified-Since when usable."""
    if parsed.if_match is None:
        return _if_unmodified_since_step(parsed, resource, requirement)
    if _if_match_passes(parsed.if_match, resource, weak_if_match=weak):
        return None
    if not resource.exists:
        reason, detail = (
            Reason.IF_MATCH_NO_CURRENT_REPRESENTATION,
            gettext_noop("the resource has no current representation"),
        )
    elif resource.etag is not None:
        reason = Reason.IF_MATCH_FAILED
        detail = gettext_noop("none of the entity-tags in If-Match is the current one")
    else:
        reason, detail = (
            Reason.IF_MATCH_FAILED,
            gettext_noop("the resource has no entity-tag to match"),
        )
    return parsed.decision(Outcome.PRECONDITION_FAILED, reason, IF_MATCH, detail, requirement)


def _if_unmodified_since_step(
    parsed: _Conditions, resource: ResourceState, requirement: Requirement | None
) -> Decision | None:
    """Step 3 (RFC 9110 §13.2.2, 2): If-Unmodified-Since, without If-Match."""
    since = parsed.unmodified_since
    if not parsed.unmodified_usable or since is None or resource.last_modified is None:
        return None
    if resource.last_modified <= since:
        return None
    return parsed.decision(
        Outcome.PRECONDITION_FAILED,
        Reason.IF_UNMODIFIED_SINCE_FAILED,
        IF_UNMODIFIED_SINCE,
        gettext_noop("the resource was modified after the date in If-Unmodified-Since"),
        requirement,
    )


def _if_none_match_failure(tags: TagPairs | str) -> str:
    """Why an unsafe request fails ``If-None-Match``: ``*`` and the resource exists, or the
    current entity-tag is listed."""
    if tags == WILDCARD:
        return gettext_noop("the resource exists")
    return gettext_noop("the current entity-tag is listed in If-None-Match")


def refused_create_only(decision: Decision) -> bool:
    """Whether ``decision`` refused ``If-None-Match: *`` because the resource exists (the
    412's text then explains ``*``; not for a listed entity-tag)."""
    return decision.reason is Reason.IF_NONE_MATCH_FAILED and decision.detail == (
        _if_none_match_failure(WILDCARD)
    )


def _if_none_match_step(
    parsed: _Conditions, resource: ResourceState, requirement: Requirement | None
) -> Decision | None:
    """Step 4 (RFC 9110 §13.2.2, 3): If-None-Match — 304 on reads, 412 on writes; else
    If-Modified-Since on reads."""
    tags = parsed.if_none_match
    if tags is None:
        return _if_modified_since_step(parsed, resource)
    if _if_none_match_passes(tags, resource):
        return None
    if parsed.method in SAFE_METHODS:
        return parsed.decision(Outcome.NOT_MODIFIED, Reason.NOT_MODIFIED, IF_NONE_MATCH)
    detail = _if_none_match_failure(tags)
    return parsed.decision(
        Outcome.PRECONDITION_FAILED, Reason.IF_NONE_MATCH_FAILED, IF_NONE_MATCH, detail, requirement
    )


def _if_modified_since_step(parsed: _Conditions, resource: ResourceState) -> Decision | None:
    """Step 4 (RFC 9110 §13.2.2, 4): If-Modified-Since, on reads, without If-None-Match."""
    since = parsed.modified_since
    if parsed.method not in SAFE_METHODS or since is None or resource.last_modified is None:
        return None
    if resource.last_modified > since:
        return None
    return parsed.decision(Outcome.NOT_MODIFIED, Reason.NOT_MODIFIED, IF_MODIFIED_SINCE)


def evaluate(
    method: str,
    headers: Mapping[str, str],
    resource: ResourceState | None,
    requirement: Requirement | None = None,
    *,
    weak_if_match: bool = False,
    now: int | None = None,
) -> Decision:
    """Decide a request's fate from its conditional headers and the resource's state, in the
    steps listed in this module's docstring.

    ``headers`` is case-insensitive in practice (``request.headers``); repeated header lines are
    expected joined with commas, as WSGI and ASGI servers deliver them. ``requirement`` is
    ``None`` for endpoints that evaluate preconditions without requiring them (Django's
    ``condition`` semantics). ``weak_if_match`` applies weak comparison to ``If-Match``
    (CONFORMANCE rule 10); the RFC's strong comparison otherwise.

    ``resource`` is ``None`` when the current state is not known (an endpoint protected by
    headers only, e.g. a settings rule without a model): the headers are then parsed and the
    requirement enforced (400, 428), and everything else is left to the view. ``now``
    (seconds since the epoch, default: the current time) is what dates are judged against.
    """
    # Step 0: not evaluated, or nothing to evaluate.
    method = method.upper()
    if method in IGNORED_METHODS:
        return Decision(Outcome.PROCEED, Reason.NOT_EVALUATED, method)
    if resource is not None and resource.last_modified is None and requirement is not None:
        requirement = requirement_for(requirement, resource)  # every step decides with it
    if not headers and (
        requirement is None or method in SAFE_METHODS or method not in requirement.methods
    ):  # no conditional header and nothing required of this method: the common read
        reason = Reason.STATE_UNKNOWN if resource is None else Reason.NO_PRECONDITIONS
        return _proceed(method, reason, requirement)
    if len(headers) == 1 and resource is not None:
        exact = _exact_match(method, headers, resource, requirement)
        if exact is not None:
            return exact
    return _evaluate_parsed(method, headers, resource, requirement, weak_if_match, now)


def _evaluate_parsed(
    method: str,
    headers: Mapping[str, str],
    resource: ResourceState | None,
    requirement: Requirement | None,
    weak_if_match: bool,
    now: int | None,
) -> Decision:
    """:func:`evaluate` from step 1 on: every header parsed and judged, ``requirement``
    already as it applies to ``resource`` (:func:`requirement_for`)."""
    # Step 1: parse.
    now = int(time.time()) if now is None else now
    parsed = _parse(method, headers, resource, now)
    if isinstance(parsed, Decision):
        return parsed
    # Step 2: the requirement (as it applies to the resource: evaluate() applied it).
    required = _unmet_requirement(parsed, requirement, now)
    if required is not None:
        assert requirement is not None
        if not requirement.report_only:
            return required
        relaxed = replace(requirement, methods=frozenset())
        decision = evaluate(
            method, headers, resource, relaxed, weak_if_match=weak_if_match, now=now
        )
        return _reported(decision, required, requirement)
    # Steps 3 and 4: the validators, against the resource's state.
    if resource is None:
        return parsed.decision(Outcome.PROCEED, Reason.STATE_UNKNOWN, requirement=requirement)
    refused = _if_match_step(parsed, resource, weak_if_match, requirement) or _if_none_match_step(
        parsed, resource, requirement
    )
    if refused is not None:
        return refused
    # Step 5: proceed.
    reason = Reason.PRECONDITIONS_PASSED if parsed.present else Reason.NO_PRECONDITIONS
    return parsed.decision(Outcome.PROCEED, reason, requirement=requirement)


def _reported(decision: Decision, required: Decision, requirement: Requirement) -> Decision:
    """Report mode relaxes the requirement only: ``decision`` evaluated what the client sent;
    when it proceeds, it carries the 428 it would have got (a refusal is not "let through")."""
    unmet = required if decision.proceeds else None
    return replace(decision, requirement=requirement, unmet=unmet)


def _requirement_gap(
    requirement: Requirement,
    if_match: TagPairs | str | None,
    unmodified_usable: bool,
    if_none_match: TagPairs | str | None,
    raw_unmodified: str | None,
    *,
    unmodified_future: bool = False,
    carries_conditions: bool = False,
) -> tuple[Reason, str] | None:
    """``None`` when the request carries an accepted precondition, else why not."""
    accepted: Collection[str] = requirement.accepted_headers
    if if_match is not None and IF_MATCH in accepted:
        if if_match == WILDCARD and not requirement.allow_wildcard:
            return (
                Reason.WILDCARD_NOT_ACCEPTED,
                gettext_noop(
                    "If-Match: * only says that some version exists; it does not prove which "
                    "version you edited, so this endpoint does not accept it"
                ),
            )
        return None
    if unmodified_usable and IF_UNMODIFIED_SINCE in accepted and if_match is None:
        if unmodified_future and not requirement.allow_wildcard and if_none_match != WILDCARD:
            return (
                Reason.UNMODIFIED_SINCE_IN_FUTURE,
                gettext_noop(
                    "its If-Unmodified-Since is later than the server's current time; a date "
                    "in the future matches every version, so it does not prove which version "
                    "you edited. Send the Last-Modified you were served, or If-Match"
                ),
            )
        return None
    # Create-only: "If-None-Match: *" proves the client will not overwrite anything (rule 31).
    if if_none_match == WILDCARD:
        return None
    if raw_unmodified is not None and not unmodified_usable:  # rules 7, 25
        return (
            Reason.PRECONDITION_MISSING,
            gettext_noop(
                "its If-Unmodified-Since cannot be used here (an invalid HTTP-date, or a "
                "resource without a modification date)"
            ),
        )
    if carries_conditions:
        return Reason.PRECONDITION_MISSING, gettext_noop(
            "none of its conditional headers proves which version you edited (If-None-Match "
            "with entity-tags and If-Modified-Since only make a read conditional)"
        )
    return Reason.PRECONDITION_MISSING, gettext_noop("it carries no precondition header")
