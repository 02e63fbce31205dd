"""Parsing of the conditional request headers (RFC 9110 §8.8.3, §13.1).

Pure functions over strings. Entity-tag lists are split at their quotes, with no Python code
per tag, so a 100 KB header or a list of 10,000 tags costs milliseconds (CONFORMANCE rule 8);
a malformed list is walked element by element, with a regular expression that cannot
backtrack more than linearly, to say where it fails. Unlike
``django.utils.http.parse_etags``, which splits on every comma and silently drops what it
cannot parse, a malformed list raises
:class:`~django_preconditions.exceptions.MalformedHeader` (rules 2 and 5).
"""

from __future__ import annotations

import calendar
import datetime
import re
import time
from collections.abc import Iterable
from itertools import repeat
from typing import Final, Literal, NamedTuple

from django.utils.translation import gettext

from .exceptions import MalformedHeader

#: Header names the package sets or reads (the conditional request headers are in
#: :mod:`.conditions`).
ETAG: Final = "ETag"
LAST_MODIFIED: Final = "Last-Modified"
CACHE_CONTROL: Final = "Cache-Control"
RETRY_AFTER: Final = "Retry-After"
LINK: Final = "Link"
LOCATION: Final = "Location"
CONTENT_TYPE: Final = "Content-Type"
USER_AGENT: Final = "User-Agent"


def meta_key(name: str) -> str:
    """The ``request.META`` key (and test client keyword) of request header ``name``, as WSGI
    spells it: ``If-Match`` → ``HTTP_IF_MATCH``."""
    return "HTTP_" + name.upper().replace("-", "_")


__all__ = [
    "WILDCARD",
    "EntityTag",
    "EntityTagList",
    "TagPairs",
    "entity_tag_pairs",
    "format_entity_tag",
    "parse_entity_tag",
    "parse_entity_tag_list",
    "parse_http_date",
]

WILDCARD: Final = "*"
Wildcard = Literal["*"]

# etagc = %x21 / %x23-7E / obs-text (RFC 9110 §8.8.3). Header values reach Django decoded as
# latin-1, so obs-text is \x80-\xff. The ranges are written once: every pattern below that
# admits or refuses a tag's characters, and OPAQUE_TEXT, are made from them.
_ETAGC_RANGES = r"\x21\x23-\x7e\x80-\xff"
_ETAGC = rf"[{_ETAGC_RANGES}]"
#: A well-formed entity-tag's text between the quotes (``fullmatch``): for the evaluation's
#: decisions that compare a header with the current tag without parsing it.
OPAQUE_TEXT: Final = re.compile(rf"{_ETAGC}*")
_OWS = r"[ \t]*"
# One entity-tag: its weakness prefix (group 1) and its opaque part (group 2).
_TAG = rf'(W/)?"({_ETAGC}*)"'
# One list element (possibly empty, RFC 9110 §5.6.1.2) and the separator after it. Whitespace
# after a tag is only allowed once a tag matched, so a run of blanks cannot be split two ways.
# Runs of empty list elements (",,,") are skipped in one match: one step per tag, not per comma.
_ELEMENT = re.compile(rf"(?:{_OWS},)*{_OWS}(?:{_TAG}{_OWS})?(,|\Z)")
_NOT_ETAGC = re.compile(rf"[^{_ETAGC_RANGES}]")
_SINGLE_TAG = re.compile(rf"{_OWS}{_TAG}{_OWS}\Z")
# No HTTP-date is longer than 29 characters; anything much longer is not one.
_MAX_DATE_LENGTH: Final = 64
_SHOWN_VALUE_LENGTH: Final = 120


def gettext_noop(message: str) -> str:
    """Mark ``message`` for translation (makemessages finds the name) without translating it.
    Unlike Django's, it never reads settings, so this module imports before settings are
    configured (the ``pytest11`` plugin imports the package while pytest starts)."""
    return message


IF_MATCH_FORM: Final = gettext_noop(
    'a comma-separated list of quoted entity-tags such as "abc" or W/"abc", or * alone'
)


class EntityTag(NamedTuple):
    """An entity-tag: ``opaque`` is the text between the quotes.

    A named tuple, so that a list of thousands is built in C (:func:`parse_entity_tag_list`)
    and searched in C (``(opaque, False) in tags``)."""

    opaque: str
    weak: bool = False

    def __str__(self) -> str:
        return format_entity_tag(self.opaque, weak=self.weak)

    def strong_match(self, other: EntityTag) -> bool:
        """RFC 9110 §8.8.3.2: both strong and identical."""
        return not self.weak and not other.weak and self.opaque == other.opaque

    def weak_match(self, other: EntityTag) -> bool:
        """RFC 9110 §8.8.3.2: identical opaque tags, whatever their weakness."""
        return self.opaque == other.opaque


EntityTagList = tuple[EntityTag, ...]
#: Entity-tags as ``(opaque, weak)`` tuples (:func:`entity_tag_pairs`).
TagPairs = tuple[tuple[str, bool], ...]
_new_tag: Final = tuple.__new__


def format_entity_tag(opaque: str, *, weak: bool = False) -> str:
    """The header form of a tag: ``"abc"`` or ``W/"abc"``."""
    return f'{"W/" if weak else ""}"{opaque}"'


def _shown(value: str) -> str:
    if len(value) <= _SHOWN_VALUE_LENGTH:
        return value
    return value[:_SHOWN_VALUE_LENGTH] + gettext("… (%(count)d characters)") % {"count": len(value)}


def _diagnose(header: str, value: str, position: int) -> str:
    """Say in words what is wrong at ``position`` of a list that failed to parse."""
    if not value.strip(" \t"):
        return gettext("the %(header)s header is empty") % {"header": header}
    if not value.strip(" \t,"):
        return gettext("the %(header)s header lists no entity-tags") % {"header": header}
    rest = value[position:].lstrip(" \t")
    if rest.startswith("*"):
        return gettext("* must stand alone; it cannot be combined with entity-tags")
    if rest[:2].lower() == "w/" and not rest.startswith("W/"):
        return gettext("the weakness prefix is W/ (an upper-case W)")
    if rest.startswith("W/") and not rest.startswith('W/"'):
        return gettext('W/ must be followed directly by a quoted tag, e.g. W/"abc"')

    if rest.startswith(('W/"', '"')):
        start = rest.index('"') + 1
        end = rest.find('"', start)
        if end == -1:
            return gettext("an entity-tag opens a quote that is never closed")
        inner = rest[start:end]
        found = _NOT_ETAGC.search(inner)
        bad = found.group() if found is not None else None
        if bad is not None:
            return gettext("the entity-tag %(tag)s contains %(char)r, which is not allowed") % {
                "tag": _shown(rest[: end + 1]),
                "char": bad,
            }
        return gettext("expected a comma after the entity-tag %(tag)s") % {
            "tag": _shown(rest[: end + 1])
        }
    token = re.split(r"[ \t,]", rest, maxsplit=1)[0]
    example = _shown(token.strip('"'))
    return gettext(
        '%(token)s is not quoted; entity-tags are sent in double quotes, e.g. "%(example)s"'
    ) % {"token": _shown(token), "example": example}


def parse_entity_tag_list(header: str, value: str) -> EntityTagList | Wildcard:
    """Parse an ``If-Match``/``If-None-Match`` value (several header lines already joined).

    Returns ``"*"`` or a non-empty tuple of tags; raises ``MalformedHeader`` otherwise, including
    for an empty value (rule 5).
    """
    tags = entity_tag_pairs(header, value)
    if tags == WILDCARD:
        return WILDCARD
    return tuple(map(_new_tag, repeat(EntityTag), tags))


def entity_tag_pairs(header: str, value: str) -> TagPairs | Wildcard:
    """:func:`parse_entity_tag_list` as ``(opaque, weak)`` tuples, which compare equal to the
    :class:`EntityTag` they stand for: what the evaluation compares. A well-formed list is
    split at its quotes (:func:`_split_list`) and the pairs are built by ``zip()``: a list of
    thousands (a hostile 8 KB ``If-None-Match``) runs no Python code per tag."""
    if value.strip(" \t") == WILDCARD:
        return WILDCARD
    pairs = _split_list(value)
    if pairs is not None:
        return pairs
    return _walk_entity_tag_list(header, value)  # no tag at all, or malformed: says where


def _split_list(value: str) -> TagPairs | None:
    """A well-formed list's tags, found by splitting it at its quotes (C string methods, in
    linear time); ``None`` for any other value, which the walk then rejects saying where.

    Split at the quotes, a list alternates separators and tags: ``sep "tag" sep "tag" sep``
    (in a well-formed list a quote opens or closes a tag, nothing else). It is well-formed
    when every tag is ``etagc*`` and, ignoring a ``W/`` that ends it (the next tag's
    weakness), the first and last separators are ``[ \t,]*`` and every other one
    ``[ \t]*,[ \t,]*``: at least one comma between tags (RFC 9110 §5.6.1.2).
    """
    parts = value.split('"')
    if len(parts) % 2 == 0 or len(parts) == 1:
        return None  # a quote left open, or no tag at all
    opaques = parts[1::2]
    text = "".join(opaques)
    printable_ascii = text.isascii() and text.isprintable() and " " not in text  # \x21-\x7e
    if not printable_ascii and _NOT_ETAGC.search(text) is not None:
        return None  # a character that is neither printable ASCII nor obs-text
    separators = parts[::2]
    weak: Iterable[bool]
    if "W/" in value:
        weak = list(map(str.endswith, separators[:-1], repeat("W/")))
        separators = list(map(str.removesuffix, separators, repeat("W/")))
        if separators[-1] != parts[-1]:
            return None  # W/ after the last tag
    else:
        weak = repeat(False)
    if separators[0].strip(" \t,") or separators[-1].strip(" \t,"):
        return None
    for between in set(separators[1:-1]):
        if "," not in between or between.strip(" \t,"):
            return None
    return tuple(zip(opaques, weak))


def _walk_entity_tag_list(header: str, value: str) -> EntityTagList:
    """:func:`parse_entity_tag_list` element by element: the tags of a well-formed list, or
    ``MalformedHeader`` saying where the value fails."""
    tags: list[EntityTag] = []
    position = 0
    while True:
        match = _ELEMENT.match(value, position)
        if match is None:
            raise MalformedHeader(header, value, _diagnose(header, value, position), IF_MATCH_FORM)
        if match.group(2) is not None:
            tags.append(EntityTag(match.group(2), weak=match.group(1) is not None))
        if not match.group(3):  # reached the end of the value
            break
        position = match.end()
    if not tags:
        raise MalformedHeader(header, value, _diagnose(header, value, 0), IF_MATCH_FORM)
    return tuple(tags)


def parse_entity_tag(value: str) -> EntityTag | None:
    """Parse one entity-tag (e.g. a response's ``ETag``); ``None`` when it is not one."""
    match = _SINGLE_TAG.match(value)
    if match is None:
        return None
    return EntityTag(match.group(2), weak=match.group(1) is not None)


_MONTHS: Final = [
    "jan",
    "feb",
    "mar",
    "apr",
    "may",
    "jun",
    "jul",
    "aug",
    "sep",
    "oct",
    "nov",
    "dec",
]
_MONTH = r"(?P<month>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_TIME = r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
# RFC 9110 §5.6.7. Fixed-width fields, no repetition but the day name: linear and bounded.
_IMF_FIXDATE = re.compile(
    rf"[A-Za-z]{{3}}, (?P<day>[0-9]{{2}}) {_MONTH} (?P<year>[0-9]{{4}}) {_TIME} GMT"
)
_RFC850_DATE = re.compile(
    rf"[A-Za-z]{{6,9}}, (?P<day>[0-9]{{2}})-{_MONTH}-(?P<year>[0-9]{{2}}) {_TIME} GMT"
)
_ASCTIME_DATE = re.compile(
    rf"[A-Za-z]{{3}} {_MONTH} (?P<day>[ 0-9][0-9]) {_TIME} (?P<year>[0-9]{{4}})"
)


def _years_later(moment: datetime.datetime, years: int) -> datetime.datetime:
    """``moment`` ``years`` later; 29 February becomes 28 February in a common year."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)


def parse_http_date(value: str, *, now: float | None = None) -> int | None:
    """Seconds since the epoch for an HTTP-date in any of its three forms, else ``None``.

    IMF-fixdate and asctime years have four digits and are taken as written (``0030`` is the
    year 30); only the obsolete RFC 850 form has a two-digit year, read by RFC 9110's rule: a
    timestamp that would lie more than 50 years after ``now`` (default: the current time) is
    in the most recent past year with those digits (CONFORMANCE rule 57). Django's
    ``parse_http_date`` compares years only, and applies that rule to every year below 100,
    whatever its form.

    Invalid dates are ignored by the callers, as RFC 9110 §13.1.3/§13.1.4 require (rule 7).
    """
    value = value.strip(" \t")
    if len(value) > _MAX_DATE_LENGTH:
        return None
    for pattern in (_IMF_FIXDATE, _RFC850_DATE, _ASCTIME_DATE):
        match = pattern.fullmatch(value)
        if match is not None:
            break
    else:
        return None
    year = int(match["year"])
    hour, minute, second = int(match["hour"]), int(match["minute"]), int(match["second"])
    # RFC 9110 §5.6.7: time-of-day runs to 23:59:60, a leap second; it is the instant before
    # midnight's (POSIX time, like Python's datetime, has no 61st second).
    leap = (hour, minute, second) == (23, 59, 60)
    month, day = _MONTHS.index(match["month"].lower()) + 1, int(match["day"])

    def moment_in(year: int) -> datetime.datetime:
        return datetime.datetime(
            year, month, day, hour, minute, 59 if leap else second, tzinfo=datetime.timezone.utc
        )

    try:
        if pattern is _RFC850_DATE:
            # "A timestamp that appears to be more than 50 years in the future" is the most
            # recent past year with those two digits: the timestamp decides, not its year.
            current = datetime.datetime.fromtimestamp(
                time.time() if now is None else now, tz=datetime.timezone.utc
            )
            moment = moment_in(year + current.year - current.year % 100)
            if moment > _years_later(current, 50):
                moment = moment_in(moment.year - 100)
        else:
            moment = moment_in(year)
    except ValueError:  # no such day, hour, ... (or year 0)
        return None
    return calendar.timegm(moment.utctimetuple()) + leap
