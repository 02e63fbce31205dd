"""The signed version an admin form carries, and the encoding of its snapshot of values."""

from __future__ import annotations

import datetime
import decimal
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.core.exceptions import (
    ValidationError,
)
from django.db import models
from django.utils.crypto import salted_hmac
from django.utils.duration import duration_iso_string
from django.utils.translation import gettext, gettext_lazy

from ..models import (
    VersionedModel,
)

#: Name of the hidden form field carrying the signed version (``form-0-…`` in formsets).
VERSION_FIELD_NAME = "preconditions_version"
_SALT = "django_preconditions.admin.version"
#: Snapshot values longer than this (as JSON) are kept as a digest: enough to tell that the
#: field changed, without making every form carry large texts twice.
_MAX_SNAPSHOT_VALUE = 1000
_DIGEST_KEY = "__sha256__"
_FORCED_ATTRIBUTE = "_preconditions_forced_conflicts"
_OBJECT_CACHE_ATTRIBUTE = "_preconditions_object_cache"


# --- The signed version ----------------------------------------------------------------------


class InvalidVersion(Exception):
    """A posted version that is missing, altered, or for another object."""


@dataclass(frozen=True)
class SignedVersion:
    """What a form was rendered from: the row (model label and pk), its version token, when
    the form was rendered (to find later admin history entries), and the base field values."""

    label: str
    pk: str
    token: str
    issued_at: float
    base: dict[str, Any]


#: What a signed version is for: a change form (or changelist row), or a delete confirmation.
CHANGE, DELETE = "change", "delete"


def sign_version(
    instance: VersionedModel, base: dict[str, Any] | None = None, *, purpose: str = CHANGE
) -> str:
    """The tamper-evident value of the hidden version field for ``instance``.

    ``purpose`` (``"change"`` or ``"delete"``) is signed too: a delete page's version is not
    accepted by a change form, nor the other way round.

    Signed with ``SECRET_KEY`` (salted for this use), binding the model label, the primary key
    and the version token, plus ``base`` — the encoded field values the form shows — so that
    a conflict can list what changed. Signed, not encrypted: only put values the editor may
    see into ``base``.
    """
    payload = {
        "m": instance._meta.label_lower,
        "pk": str(instance.pk),
        "v": instance.version_token,
        "at": time.time(),
        "b": base or {},
        "p": purpose,
    }
    return signing.dumps(payload, salt=_SALT, compress=True)


def read_version(value: str, model: type[models.Model], *, purpose: str = CHANGE) -> SignedVersion:
    """The signed version in ``value``, for a row of ``model``; :class:`InvalidVersion` if it
    is missing, altered, made for another model or for another purpose."""
    if not value:
        raise InvalidVersion("missing")
    try:
        payload = signing.loads(value, salt=_SALT)
    except signing.BadSignature:
        raise InvalidVersion("altered") from None
    if not isinstance(payload, dict) or payload.get("m") != model._meta.label_lower:
        raise InvalidVersion("other")
    if payload.get("p") != purpose:
        raise InvalidVersion("purpose")
    return SignedVersion(
        label=str(payload["m"]),
        pk=str(payload["pk"]),
        token=str(payload["v"]),
        issued_at=float(payload["at"]),
        base=dict(payload.get("b") or {}),
    )


def _same_pk(model: type[models.Model], signed_pk: str, pk: Any) -> bool:
    pk_field = model._meta.pk
    assert pk_field is not None
    try:
        return bool(pk_field.to_python(signed_pk) == pk_field.to_python(pk))
    except ValidationError:
        return False


_INVALID_MESSAGES = {
    "missing": gettext_lazy("{page} did not carry the version of this {name} it was made from"),
    "altered": gettext_lazy("The version {page_lower} carried had been altered"),
    "other": gettext_lazy("The version {page_lower} carried belongs to another object"),
    "purpose": gettext_lazy("The version {page_lower} carried was made for another page"),
}


_PAGES = {  # page: (as a sentence starts, within a sentence, what nothing was)
    "form": (
        gettext_lazy("This form"),
        gettext_lazy("this form"),
        gettext_lazy("saved"),
    ),
    "confirmation": (
        gettext_lazy("The confirmation"),
        gettext_lazy("the confirmation"),
        gettext_lazy("deleted"),
    ),
}


def _invalid_message(reason: str, model: type[models.Model], page: str) -> str:
    """Why a posted version was refused; ``page`` is ``"form"`` or ``"confirmation"``."""
    start, within, outcome = _PAGES[page]
    message = str(_INVALID_MESSAGES[reason]).format(
        page=start, page_lower=within, name=model._meta.verbose_name
    )
    return gettext("{message}, so nothing was {outcome}.").format(message=message, outcome=outcome)


# --- Snapshot encoding -------------------------------------------------------------------------


class _Unknown:
    """A base value known only by its digest."""


_UNKNOWN = _Unknown()


def _encode_value(value: Any) -> Any:
    if isinstance(value, models.Model):
        return _encode_value(value.pk)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return duration_iso_string(value)
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, dict):
        return {str(key): _encode_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode_value(item) for item in value]
    return str(value)


def _encode(field: models.Field[Any, Any], value: Any, *, hidden: bool = False) -> Any:
    """A JSON-safe, comparable form of a form's value for ``field``. A long value, or one the
    form does not show (``hidden``: a password input), is kept as a keyed digest: enough to
    tell whether it changed, without carrying it — the signed field can be read by anyone
    who has the page, and a short secret's plain digest could be guessed."""
    if field.many_to_many and value is not None:
        encoded: Any = sorted(
            (_encode_value(item) for item in value), key=lambda item: json.dumps(item)
        )
    else:
        encoded = _encode_value(value)
    text = json.dumps(encoded, sort_keys=True)
    if hidden or len(text) > _MAX_SNAPSHOT_VALUE:
        return {_DIGEST_KEY: salted_hmac(_SALT, text, algorithm="sha256").hexdigest()}
    return encoded


def _decode(field: models.Field[Any, Any], encoded: Any) -> Any:
    """The form-initial value for an encoded base value, or ``_UNKNOWN``."""
    if isinstance(encoded, dict) and _DIGEST_KEY in encoded:
        return _UNKNOWN
    try:
        if field.many_to_many:
            target = field.target_field  # type: ignore[attr-defined]
            return [target.to_python(item) for item in encoded or ()]
        if field.is_relation:
            target = field.target_field  # type: ignore[attr-defined]
            return None if encoded is None else target.to_python(encoded)
        return field.to_python(encoded)
    except (ValidationError, TypeError, ValueError):
        return _UNKNOWN
