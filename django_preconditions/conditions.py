"""The evaluation core: request headers and resource state in, a decision out.

Every adapter (function-view decorators, the class-based-view mixin, DRF, the middleware)
calls :func:`evaluate` and renders the :class:`Decision` it returns; none of them parses a
header or orders the preconditions itself. The order is RFC 9110 §13.2.2; the requirement
that unsafe methods carry a precondition (428) is RFC 6585 §3 and CONFORMANCE section H.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Final

from django.utils.translation import gettext_noop

from .exceptions import MalformedHeader
from .headers import WILDCARD, EntityTag, EntityTagList, parse_entity_tag_list, parse_http_date

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


def _if_match_passes(
    tags: EntityTagList | str, resource: ResourceState, *, weak_if_match: bool
) -> bool:
    if not resource.exists:
        return False  # "*" and every tag need a current representation
    if tags == WILDCARD:
        return True
    current = resource.etag
    if current is None:
        return False
    if weak_if_match:
        return any(tag.weak_match(current) for tag in tags)  # type: ignore[union-attr]
    return any(tag.strong_match(current) for tag in tags)  # type: ignore[union-attr]


def _if_none_match_passes(tags: EntityTagList | str, resource: ResourceState) -> bool:
    if not resource.exists:
        return True
    if tags == WILDCARD:
        return False
    current = resource.etag
    if current is None:
        return True
    return not any(tag.weak_match(current) for tag in tags)  # type: ignore[union-attr]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    return None if value is None else str(value)


def evaluate(
    method: str,
    headers: Mapping[str, str],
    resource: ResourceState | None,
    requirement: Requirement | None = None,
    *,
    weak_if_match: bool = False,
    now: int | None = None,
) -> Decision:
    """Decide a request's fate from its conditional headers and the resource's state.

    ``headers`` is case-insensitive in practice (``request.headers``); repeated header lines are
    expected joined with commas, as WSGI and ASGI servers deliver them. ``requirement`` is
    ``None`` for endpoints that evaluate preconditions without requiring them (Django's
    ``condition`` semantics). ``weak_if_match`` applies weak comparison to ``If-Match``
    (CONFORMANCE rule 10); the RFC's strong comparison otherwise.

    ``resource`` is ``None`` when the current state is not known (an endpoint protected by
    headers only, e.g. a settings rule without a model): the headers are then parsed and the
    requirement enforced (400, 428), and everything else is left to the view.

    ``now`` (seconds since the epoch, default: the current time) is what dates in the future
    are judged against: an ``If-Modified-Since`` later than now is ignored, and an
    ``If-Unmodified-Since`` later than now does not satisfy the requirement unless the policy
    allows wildcards — it matches every version, like ``If-Match: *`` (rules 56, 57).
    """
    method = method.upper()
    if method in IGNORED_METHODS:
        return Decision(Outcome.PROCEED, Reason.NOT_EVALUATED, method)
    if not headers and (
        requirement is None or method in SAFE_METHODS or method not in requirement.methods
    ):
        # No conditional header and nothing required of this method: what the evaluation
        # below concludes, without reading the clock or parsing anything (the common read).
        return Decision(
            Outcome.PROCEED,
            Reason.STATE_UNKNOWN if resource is None else Reason.NO_PRECONDITIONS,
            method,
            requirement=requirement,
        )
    now = int(time.time()) if now is None else now

    raw_if_match = _header(headers, IF_MATCH)
    raw_if_none_match = _header(headers, IF_NONE_MATCH)
    raw_unmodified = _header(headers, IF_UNMODIFIED_SINCE)
    raw_modified = _header(headers, IF_MODIFIED_SINCE)
    ignored: list[str] = []

    # Parsing. A malformed If-Match is never treated as absent (rule 5). A malformed
    # If-None-Match is ignored where that is harmless (GET/HEAD send the full response, as
    # Django does) and refused elsewhere, so a conditional write never becomes unconditional.
    if_match: EntityTagList | str | None = None
    if raw_if_match is not None:
        try:
            if_match = parse_entity_tag_list(IF_MATCH, raw_if_match)
        except MalformedHeader as exc:
            return Decision(
                Outcome.MALFORMED, Reason.MALFORMED_IF_MATCH, method, IF_MATCH, exc.problem, exc
            )
    if_none_match: EntityTagList | str | None = None
    if raw_if_none_match is not None:
        try:
            if_none_match = parse_entity_tag_list(IF_NONE_MATCH, raw_if_none_match)
        except MalformedHeader as exc:
            if method not in SAFE_METHODS:
                return Decision(
                    Outcome.MALFORMED,
                    Reason.MALFORMED_IF_NONE_MATCH,
                    method,
                    IF_NONE_MATCH,
                    exc.problem,
                    exc,
                )
            ignored.append(IF_NONE_MATCH)
    unmodified_since = parse_http_date(raw_unmodified) if raw_unmodified is not None else None
    if raw_unmodified is not None and unmodified_since is None:
        ignored.append(IF_UNMODIFIED_SINCE)  # invalid date: ignored (rule 7)
    modified_since = parse_http_date(raw_modified) if raw_modified is not None else None
    if modified_since is not None and modified_since > now:
        modified_since = None  # invalid, RFC 7232 §3.3 (rule 57)
        ignored.append(IF_MODIFIED_SINCE)
    # If-Unmodified-Since only means something when the resource has a modification date
    # (RFC 9110 §13.1.4, rule 25).
    unmodified_usable = unmodified_since is not None and (
        resource is None or resource.last_modified is not None
    )
    if unmodified_since is not None and (not unmodified_usable or if_match is not None):
        ignored.append(IF_UNMODIFIED_SINCE)  # no date to compare with (rule 25), or rule 15

    # Requirement (428) — only for the methods the policy protects (rule 32).
    if requirement is not None and method in requirement.methods and method not in SAFE_METHODS:
        unmodified_future = unmodified_since is not None and unmodified_since > now
        missing = _requirement_gap(
            requirement,
            if_match,
            unmodified_usable,
            if_none_match,
            raw_unmodified,
            unmodified_future=unmodified_future,
        )
        if missing is not None:
            reason, detail = missing
            required = Decision(
                Outcome.PRECONDITION_REQUIRED,
                reason,
                method,
                detail=detail,
                requirement=requirement,
                ignored=tuple(ignored),
            )
            if not requirement.report_only:
                return required
            # Report mode relaxes the requirement only: what the client sent is evaluated.
            relaxed = replace(requirement, methods=frozenset())
            decision = evaluate(method, headers, resource, relaxed, weak_if_match=weak_if_match)
            unmet = required if decision.proceeds else None  # a refusal is not "let through"
            return replace(decision, requirement=requirement, unmet=unmet)

    if resource is None:
        return Decision(
            Outcome.PROCEED,
            Reason.STATE_UNKNOWN,
            method,
            requirement=requirement,
            ignored=tuple(ignored),
        )

    # Evaluation, RFC 9110 §13.2.2.
    if if_match is not None:
        if not _if_match_passes(if_match, resource, weak_if_match=weak_if_match):
            no_representation = not resource.exists
            return Decision(
                Outcome.PRECONDITION_FAILED,
                Reason.IF_MATCH_NO_CURRENT_REPRESENTATION
                if no_representation
                else Reason.IF_MATCH_FAILED,
                method,
                IF_MATCH,
                gettext_noop("the resource has no current representation")
                if no_representation
                else gettext_noop("none of the entity-tags in If-Match is the current one")
                if resource.etag is not None
                else gettext_noop("the resource has no entity-tag to match"),
                requirement=requirement,
                ignored=tuple(ignored),
            )
    elif unmodified_usable:
        assert unmodified_since is not None
        assert resource.last_modified is not None
        if resource.last_modified > unmodified_since:
            return Decision(
                Outcome.PRECONDITION_FAILED,
                Reason.IF_UNMODIFIED_SINCE_FAILED,
                method,
                IF_UNMODIFIED_SINCE,
                gettext_noop("the resource was modified after the date in If-Unmodified-Since"),
                requirement=requirement,
                ignored=tuple(ignored),
            )

    if if_none_match is not None:
        if not _if_none_match_passes(if_none_match, resource):
            if method in SAFE_METHODS:
                return Decision(
                    Outcome.NOT_MODIFIED,
                    Reason.NOT_MODIFIED,
                    method,
                    IF_NONE_MATCH,
                    ignored=tuple(ignored),
                )
            return Decision(
                Outcome.PRECONDITION_FAILED,
                Reason.IF_NONE_MATCH_FAILED,
                method,
                IF_NONE_MATCH,
                gettext_noop("the resource exists")
                if if_none_match == WILDCARD
                else gettext_noop("the current entity-tag is listed in If-None-Match"),
                requirement=requirement,
                ignored=tuple(ignored),
            )
    elif (
        method in SAFE_METHODS
        and modified_since is not None
        and resource.last_modified is not None
        and resource.last_modified <= modified_since
    ):
        return Decision(
            Outcome.NOT_MODIFIED,
            Reason.NOT_MODIFIED,
            method,
            IF_MODIFIED_SINCE,
            ignored=tuple(ignored),
        )

    present = any(
        value is not None
        for value in (raw_if_match, raw_if_none_match, raw_unmodified, raw_modified)
    )
    return Decision(
        Outcome.PROCEED,
        Reason.PRECONDITIONS_PASSED if present else Reason.NO_PRECONDITIONS,
        method,
        requirement=requirement,
        ignored=tuple(ignored),
    )


def _requirement_gap(
    requirement: Requirement,
    if_match: EntityTagList | str | None,
    unmodified_usable: bool,
    if_none_match: EntityTagList | str | None,
    raw_unmodified: str | None,
    *,
    unmodified_future: bool = False,
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
                "its If-Unmodified-Since is later than the server's current time; a date in the "
                "future matches every version, so it does not prove which version you edited. "
                "Send the Last-Modified you were served, or If-Match",
            )
        return None
    # Create-only: "If-None-Match: *" proves the client will not overwrite anything (rule 31).
    if if_none_match == WILDCARD:
        return None
    if raw_unmodified is not None and IF_UNMODIFIED_SINCE in accepted and not unmodified_usable:
        return (
            Reason.PRECONDITION_MISSING,
            gettext_noop(
                "its If-Unmodified-Since cannot be used here (an invalid HTTP-date, or a "
                "resource without a modification date)"
            ),
        )
    return Reason.PRECONDITION_MISSING, gettext_noop("it carries no precondition header")
