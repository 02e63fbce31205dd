"""The conflict report: which fields changed, by whom and when."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.admin.utils import display_for_field
from django.db import models
from django.utils import formats, timezone
from django.utils.html import strip_tags
from django.utils.text import Truncator
from django.utils.translation import gettext

from .signing import _UNKNOWN

if TYPE_CHECKING:
    from django.contrib.admin.models import LogEntry

# --- Conflict reports --------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldDifference:
    """One field that changed between the version a form was made from and the current one.

    ``state``: ``"conflict"`` (the editor changed it too, differently: their input is kept),
    ``"theirs"`` (only the other writer changed it: the form now shows the current value) or
    ``"same"`` (the editor's input already equals the current value).
    """

    name: str
    label: str
    base: str
    current: str
    state: str

    @property
    def in_form(self) -> str:
        return {
            "conflict": gettext("Your input (replaces the current value if you save again)"),
            "theirs": gettext("The current value (you had not changed this field)"),
            "same": gettext("Your input, which equals the current value"),
        }[self.state]


@dataclass(frozen=True)
class ConflictReport:
    """What the editor of a stale form is shown."""

    verbose_name: str
    differences: tuple[FieldDifference, ...]
    changed_by: str | None
    changed_at: datetime.datetime | None
    change_message: str
    simultaneous: bool = False

    @property
    def who(self) -> str:
        return _who(self.changed_by, self.changed_at)

    @property
    def summary(self) -> str:
        if self.simultaneous:
            head = gettext(
                "Another change to this %(name)s was saved at the same moment as yours, so "
                "nothing was saved."
            ) % {"name": self.verbose_name}
        else:
            head = gettext(
                "This %(name)s was changed %(who)s after this page was loaded, so nothing was "
                "saved."
            ) % {"name": self.verbose_name, "who": self.who}
        if self.differences:
            changed = "; ".join(
                gettext("%(field)s is now “%(value)s”")
                % {"field": item.label, "value": Truncator(item.current).chars(80)}
                for item in self.differences
            )
            head += " " + gettext("Changed: %(changed)s.") % {"changed": changed}
        elif not self.simultaneous:
            head += " " + gettext("None of the fields shown here changed.")
        return f"{head} " + gettext(
            "Your input is kept: save again to apply it to the current version, or reload the "
            "page to discard it."
        )


def _who(user: str | None, moment: datetime.datetime | None) -> str:
    """Who changed a row and when: "by NAME at TIME", or "outside the admin"."""
    if user and moment:
        return gettext("by %(user)s at %(when)s") % {"user": user, "when": _local(moment)}
    if user:
        return gettext("by %(user)s") % {"user": user}
    if moment:
        return gettext("outside the admin at %(when)s") % {"when": _local(moment)}
    return gettext("outside the admin")


def _local(moment: datetime.datetime) -> str:
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return str(formats.localize(moment))


def _log_entries(model: type[models.Model], pk: Any) -> Any:
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    content_type = ContentType.objects.get_for_model(model, for_concrete_model=False)
    return (
        LogEntry.objects.filter(content_type=content_type, object_id=str(pk))
        .select_related("user")
        .order_by("-action_time", "-pk")
    )


def _since(timestamp: float) -> datetime.datetime:
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc)
    return moment if settings.USE_TZ else timezone.make_naive(moment)


def _latest_change(model: type[models.Model], pk: Any, since: float) -> LogEntry | None:
    """The newest admin history entry for the row made after ``since`` (a ``time.time()``)."""
    entry: LogEntry | None = _log_entries(model, pk).filter(action_time__gt=_since(since)).first()
    return entry


def _username(entry: LogEntry) -> str:
    user = entry.user
    return str(user.get_username() if hasattr(user, "get_username") else user)


def _change_by(model: type[models.Model], pk: Any, since: float) -> str:
    entry = _latest_change(model, pk, since)
    if entry is None:
        return _who(None, None)
    return _who(_username(entry), entry.action_time)


def _display(field: models.Field[Any, Any], value: Any) -> str:
    """A short, readable text for a value of ``field`` (queries related rows by pk)."""
    if value is _UNKNOWN:
        return gettext("(a long value, not shown)")
    if field.is_relation and field.related_model is not None:
        pks = list(value) if field.many_to_many else ([] if value is None else [value])
        pks = [item.pk if isinstance(item, models.Model) else item for item in pks]
        if not pks:
            return "-"
        related: Any = field.related_model
        found = related._base_manager.in_bulk(pks)
        return ", ".join(
            str(found[pk]) if pk in found else gettext("#%(pk)s (deleted)") % {"pk": pk}
            for pk in pks
        )
    if isinstance(field, models.BooleanField):
        return {True: gettext("Yes"), False: gettext("No")}.get(value, gettext("Unknown"))
    shown = display_for_field(value, field, "-", avoid_link=True)
    return Truncator(strip_tags(str(shown))).chars(300)
