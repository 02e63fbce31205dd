"""The Django admin, made safe for concurrent editors, and the admin for protection rules.

:class:`VersionedModelAdmin` (or :class:`VersionedModelAdminMixin` next to another admin base)
gives any :class:`~django_preconditions.models.VersionedModel` lost-update protection: the
change form, ``list_editable`` rows and both delete confirmations carry the version they were
rendered from (signed, so it cannot be forged or silently dropped), and the write is a single
compare-and-swap against it. A stale write changes nothing; the editor sees who changed what,
keeps their input, and can reload or apply it to the current version.

:class:`ProtectedEndpointAdmin` manages the admin rules enforced by
:class:`~django_preconditions.middleware.PreconditionMiddleware`.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime
import decimal
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from django import forms
from django.apps import apps
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.options import TO_FIELD_VAR
from django.contrib.admin.utils import display_for_field, flatten_fieldsets, unquote
from django.core import signing
from django.core.exceptions import (
    FieldDoesNotExist,
    ImproperlyConfigured,
    PermissionDenied,
    ValidationError,
)
from django.db import models, router, transaction
from django.forms.boundfield import BoundField
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import formats, timezone
from django.utils.duration import duration_iso_string
from django.utils.html import strip_tags
from django.utils.text import Truncator, capfirst
from django.utils.translation import gettext, gettext_lazy, ngettext

from . import defaults
from ._compat import admin_sites
from .exceptions import VersionConflict
from .formats import ERROR_FORMATS
from .models import (
    ProtectedEndpoint,
    VersionedModel,
    expect_version,
    pop_expectation,
    push_expectation,
)
from .rules import invalidate_rules

if TYPE_CHECKING:
    from django.contrib.admin.models import LogEntry

    _ModelAdmin = admin.ModelAdmin[Any]
    _RuleForm = forms.ModelForm[ProtectedEndpoint]
    _VersionedFormBase = forms.ModelForm[Any]
else:
    _ModelAdmin = admin.ModelAdmin
    _RuleForm = forms.ModelForm
    _VersionedFormBase = object

__all__ = [
    "VERSION_FIELD_NAME",
    "CommaSeparatedChoiceField",
    "ConflictReport",
    "DatalistInput",
    "FieldDifference",
    "ProtectedEndpointAdmin",
    "ProtectedEndpointForm",
    "VersionedModelAdmin",
    "VersionedModelAdminMixin",
    "delete_selected",
    "read_version",
    "sign_version",
    "versioned_form",
]

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


def _encode(field: models.Field[Any, Any], value: Any) -> Any:
    """A JSON-safe, comparable form of a form's initial value for ``field``."""
    if field.many_to_many and value is not None:
        encoded: Any = sorted(
            (_encode_value(item) for item in value), key=lambda item: json.dumps(item)
        )
    else:
        encoded = _encode_value(value)
    text = json.dumps(encoded, sort_keys=True)
    if len(text) > _MAX_SNAPSHOT_VALUE:
        return {_DIGEST_KEY: hashlib.sha256(text.encode()).hexdigest()}
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


# --- The versioned form ------------------------------------------------------------------------


class VersionField(forms.CharField):
    """The hidden field carrying the signed version; never counts as a changed field."""

    def __init__(self) -> None:
        super().__init__(
            required=False, widget=forms.HiddenInput, label=gettext_lazy("Version"), strip=False
        )

    def has_changed(self, initial: Any, data: Any) -> bool:
        return False


class _CurrentValueBoundField(BoundField):
    """Renders the current (initial) value although the form is bound: for fields that only
    the other writer changed, so that saving again does not revert their change."""

    def value(self) -> Any:
        return self.field.prepare_value(self.initial)


class VersionedFormMixin(_VersionedFormBase):
    """Form behaviour added to the admin's model forms of versioned models.

    ``clean_preconditions_version`` compares the signed version with the row the admin just
    loaded (no extra query); a stale, missing or altered version is a form error, so nothing
    is saved and the form is shown again with the input kept and a fresh version.
    """

    #: In changelist formsets only changed rows are written, so only they are checked.
    preconditions_only_changed: ClassVar[bool] = False
    #: Primary keys whose compare-and-swap lost a race in this request: report a conflict.
    preconditions_forced: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.preconditions_conflict: ConflictReport | None = None
        self.preconditions_deleted: str | None = None
        #: On a valid form: the version its save must find (the view enforces it for every save
        #: of the row; custom code may pass it as ``save(expected_version=…)``).
        self.preconditions_expected_version: str | None = None
        self._preconditions_show_current: dict[str, BoundField] = {}
        if not self.is_bound and not self.instance._state.adding:
            self.initial[VERSION_FIELD_NAME] = self.preconditions_signed_version()

    def __getitem__(self, name: str) -> BoundField:
        shown = self._preconditions_show_current.get(name)
        if shown is not None:
            return shown
        return super().__getitem__(name)

    def preconditions_base(self) -> dict[str, Any]:
        """The encoded values this form shows, from the row it was made from."""
        opts = self.instance._meta
        base: dict[str, Any] = {}
        for name in self.fields:
            if name == VERSION_FIELD_NAME:
                continue
            try:
                field = opts.get_field(name)
            except FieldDoesNotExist:
                continue
            if isinstance(field, models.Field):
                base[name] = _encode(field, self.initial.get(name))
        return base

    def preconditions_signed_version(self) -> str:
        return sign_version(self.instance, self.preconditions_base())

    def clean_preconditions_version(self) -> str:
        raw = str(self.cleaned_data.get(VERSION_FIELD_NAME) or "")
        instance = self.instance
        if self.preconditions_only_changed and not self.has_changed():
            return raw  # not written: nothing to protect
        if instance._state.adding:
            self._report_vanished(raw)
            return raw
        try:
            signed = read_version(raw, type(instance))
            if not _same_pk(type(instance), signed.pk, instance.pk):
                raise InvalidVersion("other")
            if not signed.base and self.preconditions_base():
                raise InvalidVersion("purpose")  # no snapshot to tell what others changed
        except InvalidVersion as exc:
            message = _invalid_message(str(exc), type(instance), "form")
            self.add_error(
                None,
                f"{message} "
                + gettext(
                    "The form now carries the current version: check the values below and "
                    "save again, or reload the page."
                ),
            )
            self._refresh_version()
            return raw
        forced = str(instance.pk) in self.preconditions_forced
        if forced or signed.token != instance.version_token:
            report = self._conflict_report(signed, forced)
            self._refresh_version()
            if self.preconditions_only_changed and not forced and not self._edited(report):
                # Django counts a row as changed when it differs from the current row; here
                # it differs only by what others changed since the page was loaded, so
                # writing it would revert their change. The editor did not touch it: skip it.
                self._preconditions_untouched = True
                return raw
            self.preconditions_conflict = report
            self.add_error(None, report.summary)
            return raw
        self.preconditions_expected_version = signed.token
        return raw

    def has_changed(self) -> bool:
        if getattr(self, "_preconditions_untouched", False):
            return False
        return super().has_changed()

    def _edited(self, report: ConflictReport) -> bool:
        """Whether the input differs from the version the form was made from."""
        differing = {item.name for item in report.differences}
        return any(item.state == "conflict" for item in report.differences) or any(
            name not in differing for name in self.changed_data
        )

    def _report_vanished(self, raw: str) -> None:
        """A changelist row whose object was deleted meanwhile arrives as a new instance:
        refuse it (Django would reject the whole request) and say why."""
        try:
            signed = read_version(raw, type(self.instance))
        except InvalidVersion:
            return
        name = self.instance._meta.verbose_name
        self.preconditions_deleted = signed.pk
        self.add_error(
            None,
            gettext(
                "This %(name)s (ID %(pk)s) was deleted %(who)s after this page was loaded; "
                "your changes to it were not saved, and it was not re-created."
            )
            % {
                "name": name,
                "pk": signed.pk,
                "who": _change_by(type(self.instance), signed.pk, signed.issued_at),
            },
        )

    def _refresh_version(self) -> None:
        data: Any = self.data
        data = data.copy()
        data[self.add_prefix(VERSION_FIELD_NAME)] = self.preconditions_signed_version()
        self.data = data

    def _conflict_report(self, signed: SignedVersion, simultaneous: bool) -> ConflictReport:
        instance = self.instance
        opts = instance._meta
        differences: list[FieldDifference] = []
        for name, base_encoded in signed.base.items():
            if name not in self.fields:
                continue
            try:
                field = opts.get_field(name)
            except FieldDoesNotExist:
                continue
            if not isinstance(field, models.Field):
                continue
            current = self.initial.get(name)
            if _encode(field, current) == base_encoded:
                continue
            base = _decode(field, base_encoded)
            state = self._field_state(name, base)
            label = str(self.fields[name].label or capfirst(field.verbose_name))
            differences.append(
                FieldDifference(
                    name=name,
                    label=label,
                    base=_display(field, base),
                    current=_display(field, current),
                    state=state,
                )
            )
        entry = _latest_change(type(instance), instance.pk, signed.issued_at)
        return ConflictReport(
            verbose_name=str(opts.verbose_name),
            differences=tuple(differences),
            changed_by=_username(entry) if entry is not None else None,
            changed_at=entry.action_time if entry is not None else instance.last_modified,
            change_message=entry.get_change_message() if entry is not None else "",
            simultaneous=simultaneous,
        )

    def _field_state(self, name: str, base: Any) -> str:
        if name not in self.changed_data:
            return "same"
        if base is _UNKNOWN:
            return "conflict"
        form_field = self.fields[name]
        if isinstance(base, (datetime.datetime, datetime.time)) and not getattr(
            form_field.widget, "supports_microseconds", True
        ):
            base = base.replace(microsecond=0)
        bound = super().__getitem__(name)
        if form_field.has_changed(base, bound.data):
            return "conflict"
        self._preconditions_show_current[name] = _CurrentValueBoundField(
            self,
            form_field,
            name,
        )
        return "theirs"


def versioned_form(
    form_class: type[forms.ModelForm[Any]],
    *,
    only_changed: bool = False,
    forced: frozenset[str] = frozenset(),
) -> type[forms.ModelForm[Any]]:
    """``form_class`` with the hidden version field and its check."""
    attrs = {
        "__module__": form_class.__module__,
        VERSION_FIELD_NAME: VersionField(),
        "preconditions_only_changed": only_changed,
        "preconditions_forced": forced,
    }
    metaclass: Any = type(form_class)
    return metaclass(form_class.__name__, (VersionedFormMixin, form_class), attrs)  # type: ignore[no-any-return]


# --- The admin -------------------------------------------------------------------------------


def _posted_versions(request: HttpRequest) -> Iterator[str]:
    for key, values in request.POST.lists():
        if key == VERSION_FIELD_NAME or key.endswith(f"-{VERSION_FIELD_NAME}"):
            yield from values


class VersionedModelAdminMixin(_ModelAdmin):
    """Lost-update protection for the admin of a :class:`VersionedModel`.

    Combine it with other admin bases (``class MyAdmin(VersionedModelAdminMixin,
    OtherAdmin)``) or use :class:`VersionedModelAdmin`. Templates of your own must extend
    ``admin/django_preconditions/versioned/*.html`` (change form, change list and both delete
    confirmations), which render the version fields.
    """

    change_form_template = "admin/django_preconditions/versioned/change_form.html"
    change_list_template = "admin/django_preconditions/versioned/change_list.html"
    delete_confirmation_template = "admin/django_preconditions/versioned/delete_confirmation.html"
    delete_selected_confirmation_template = (
        "admin/django_preconditions/versioned/delete_selected_confirmation.html"
    )

    class Media:
        css: ClassVar[dict[str, tuple[str, ...]]] = {"all": ("django_preconditions/admin.css",)}

    def __init__(self, model: type[models.Model], admin_site: admin.AdminSite) -> None:
        if not issubclass(model, VersionedModel):
            raise ImproperlyConfigured(
                f"{type(self).__name__} protects VersionedModels, but {model._meta.label} is "
                "not one. Inherit from django_preconditions.models.VersionedModel, or register "
                "the model with a plain ModelAdmin."
            )
        super().__init__(model, admin_site)

    # -- forms --

    def get_fields(self, request: HttpRequest, obj: models.Model | None = None) -> Any:
        return [name for name in super().get_fields(request, obj) if name != VERSION_FIELD_NAME]

    def get_fieldsets(self, request: HttpRequest, obj: models.Model | None = None) -> Any:
        """The first fieldset also holds the hidden version field, so that any change-form
        template renders it."""
        fieldsets = list(super().get_fieldsets(request, obj))
        if (
            obj is None
            or not fieldsets
            or VERSION_FIELD_NAME in flatten_fieldsets(fieldsets)
            or not self.has_change_permission(request, obj)
        ):
            return fieldsets
        name, options = fieldsets[0]
        fields = (*options.get("fields", ()), VERSION_FIELD_NAME)
        return [(name, {**options, "fields": fields}), *fieldsets[1:]]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        fields = (
            kwargs["fields"]
            if "fields" in kwargs
            else flatten_fieldsets(self.get_fieldsets(request, obj))
        )
        if fields is not None:
            fields = [name for name in fields if name != VERSION_FIELD_NAME]
        form = super().get_form(request, obj, change, **{**kwargs, "fields": fields})
        if obj is None:
            return form  # the add form: a new row has no version to protect
        return versioned_form(form, forced=_forced(request))

    def get_changelist_form(self, request: HttpRequest, **kwargs: Any) -> Any:
        form = super().get_changelist_form(request, **kwargs)
        return versioned_form(form, only_changed=True, forced=_forced(request))

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Any:
        cache: dict[tuple[str, str | None], Any] = getattr(request, _OBJECT_CACHE_ATTRIBUTE, {})
        if (object_id, from_field) in cache:
            return cache.pop((object_id, from_field))
        return super().get_object(request, object_id, from_field)

    # -- change form --

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """A change saved with the version it was made from, as one compare-and-swap."""

        def run() -> HttpResponse:
            return super(VersionedModelAdminMixin, self).changeform_view(
                request, object_id, form_url, extra_context
            )

        if request.method != "POST" or object_id is None or "_saveasnew" in request.POST:
            return run()
        gone = self._deleted_while_editing(request, object_id)
        if gone is not None:
            return gone
        try:
            with self._expected_versions(request):
                return run()
        except VersionConflict as conflict:
            # Another write won between the form check and the compare-and-swap: show the
            # form again, now reporting the conflict (it cannot save, so it cannot race).
            self._force_conflict(request, conflict)
            gone = self._deleted_while_editing(request, object_id)
            return gone if gone is not None else run()

    def _force_conflict(self, request: HttpRequest, conflict: VersionConflict) -> None:
        """Make the next run of the view report ``conflict`` on its row's form; a conflict
        about another model (e.g. raised by custom code) is not ours to explain."""
        if conflict.model is not None and not issubclass(self.model, conflict.model):
            raise conflict
        setattr(request, _FORCED_ATTRIBUTE, _forced(request) | {str(conflict.pk)})
        if hasattr(request, _OBJECT_CACHE_ATTRIBUTE):
            delattr(request, _OBJECT_CACHE_ATTRIBUTE)

    def _deleted_while_editing(self, request: HttpRequest, object_id: str) -> HttpResponse | None:
        """A clear answer when the row was deleted while its form was open; the row is loaded
        once and handed to the view (no extra query)."""
        to_field = request.POST.get(TO_FIELD_VAR, request.GET.get(TO_FIELD_VAR))
        if to_field and not self.to_field_allowed(request, to_field):
            return None  # the view raises DisallowedModelAdminToField
        key = unquote(object_id)
        obj = super().get_object(request, key, to_field)
        if obj is not None:
            setattr(request, _OBJECT_CACHE_ATTRIBUTE, {(key, to_field): obj})
            return None
        if not self.has_change_permission(request):
            return None
        try:
            signed = read_version(request.POST.get(VERSION_FIELD_NAME, ""), self.model)
        except InvalidVersion:
            return None  # Django's own "doesn't exist" answer
        name = self.opts.verbose_name
        self.message_user(
            request,
            gettext(
                "This %(name)s (ID %(pk)s) was deleted %(who)s while you were editing it. Your "
                "changes were not saved, and it was not re-created."
            )
            % {
                "name": name,
                "pk": signed.pk,
                "who": _change_by(self.model, signed.pk, signed.issued_at),
            },
            messages.ERROR,
        )
        return HttpResponseRedirect(self._changelist_url())

    def _changelist_url(self) -> str:
        return reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist",
            current_app=self.admin_site.name,
        )

    @contextlib.contextmanager
    def _expected_versions(self, request: HttpRequest) -> Iterator[None]:
        """Every save or delete of a posted row during the view must still find the posted
        version — also in ``save_model``/``delete_model`` overrides."""
        pk_field = self.opts.pk
        assert pk_field is not None
        pushed = []
        try:
            for raw in _posted_versions(request):
                try:
                    signed = read_version(raw, self.model)
                    pk = pk_field.to_python(signed.pk)
                except (InvalidVersion, ValidationError):
                    continue
                pushed.append(push_expectation(self.model, pk, signed.token))
            yield
        finally:
            for expectation in reversed(pushed):
                pop_expectation(expectation)

    # -- change list (list_editable and actions) --

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        def run() -> HttpResponse:
            return super(VersionedModelAdminMixin, self).changelist_view(request, extra_context)

        if request.method != "POST":
            return run()
        try:
            with self._expected_versions(request):
                response = run()
        except VersionConflict as conflict:
            self._force_conflict(request, conflict)
            response = run()
        self._report_stale_rows(request, response)
        return response

    def _report_stale_rows(self, request: HttpRequest, response: HttpResponse) -> None:
        context = getattr(response, "context_data", None) or {}
        changelist = context.get("cl")
        formset = getattr(changelist, "formset", None)
        if formset is None:
            return
        stale = [form for form in formset.forms if getattr(form, "preconditions_conflict", None)]
        deleted = [
            str(form.preconditions_deleted)
            for form in formset.forms
            if getattr(form, "preconditions_deleted", None)
        ]
        if stale:
            self.message_user(
                request,
                ngettext(
                    "%(count)d of the rows you edited changed after this page was loaded, so "
                    "nothing was saved. Those rows show what changed; save again to apply your "
                    "input to the current versions.",
                    "%(count)d of the rows you edited changed after this page was loaded, so "
                    "nothing was saved. Those rows show what changed; save again to apply your "
                    "input to the current versions.",
                    len(stale),
                )
                % {"count": len(stale)},
                messages.ERROR,
            )
        if deleted:
            name = self.opts.verbose_name_plural if len(deleted) > 1 else self.opts.verbose_name
            self.message_user(
                request,
                gettext(
                    "Nothing was saved: %(name)s with ID %(ids)s had been deleted after this "
                    "page was loaded (they are not re-created). Reload the page to edit the "
                    "remaining rows."
                )
                % {"name": name, "ids": ", ".join(deleted)},
                messages.ERROR,
            )

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        """Django's "delete selected" becomes a per-row compare-and-swap delete.

        ``action_location`` is Django 6.1's argument (actions in the change form); older
        versions never pass it.
        """
        options = {} if action_location is None else {"action_location": action_location}
        actions = super().get_actions(request, **options)
        entry: Any = actions.get("delete_selected")
        if isinstance(entry, tuple):  # Django < 6.1: (function, name, description)
            if entry[0] is django_delete_selected:
                actions["delete_selected"] = (delete_selected, *entry[1:])
        elif getattr(entry, "func", None) is django_delete_selected:  # Django 6.1+: Action
            actions["delete_selected"] = dataclasses.replace(entry, func=delete_selected)
        return actions

    # -- deletes --

    def render_delete_form(self, request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
        obj = context.get("object")
        if isinstance(obj, VersionedModel):
            context[VERSION_FIELD_NAME] = sign_version(obj, purpose=DELETE)
        return super().render_delete_form(request, context)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Delete only the version the confirmation page showed (one compare-and-swap)."""
        if request.method != "POST":
            return super().delete_view(request, object_id, extra_context)
        key = unquote(object_id)
        to_field = request.POST.get(TO_FIELD_VAR, request.GET.get(TO_FIELD_VAR))
        if to_field and not self.to_field_allowed(request, to_field):
            return super().delete_view(request, object_id, extra_context)  # Django's 400
        # The object this request deletes, however it is addressed (pk or ``_to_field``):
        # the signed version must be this object's (issue 10, item 4).
        target = self.get_object(request, key, to_field)
        if target is None:
            return super().delete_view(request, object_id, extra_context)  # Django's answer
        setattr(request, _OBJECT_CACHE_ATTRIBUTE, {(key, to_field): target})
        try:
            signed = read_version(
                request.POST.get(VERSION_FIELD_NAME, ""), self.model, purpose=DELETE
            )
            if not _same_pk(self.model, signed.pk, target.pk):
                raise InvalidVersion("other")
        except InvalidVersion as exc:
            message = _invalid_message(str(exc), self.model, "confirmation")
            self.message_user(
                request,
                f"{message} " + gettext("Confirm the deletion again below."),
                messages.ERROR,
            )
            return HttpResponseRedirect(request.get_full_path())
        pk_field = self.opts.pk
        assert pk_field is not None
        try:
            with expect_version(self.model, pk_field.to_python(signed.pk), signed.token):
                return super().delete_view(request, object_id, extra_context)
        except VersionConflict:
            return self._stale_delete_response(request, signed)

    def _stale_delete_response(self, request: HttpRequest, signed: SignedVersion) -> HttpResponse:
        name = self.opts.verbose_name
        by = _change_by(self.model, signed.pk, signed.issued_at)
        if not self.get_queryset(request).filter(pk=signed.pk).exists():
            self.message_user(
                request,
                gettext("This %(name)s (ID %(pk)s) was already deleted %(who)s.")
                % {"name": name, "pk": signed.pk, "who": by},
                messages.INFO,
            )
            return HttpResponseRedirect(self._changelist_url())
        self.message_user(
            request,
            gettext(
                "Nothing was deleted: this %(name)s was changed %(who)s after the confirmation "
                "page was shown. Review the current version below and delete it again if you "
                "still want to."
            )
            % {"name": name, "who": by},
            messages.WARNING,
        )
        return HttpResponseRedirect(
            reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                args=[signed.pk],
                current_app=self.admin_site.name,
            )
        )

    def delete_versions(self, request: HttpRequest, queryset: models.QuerySet[Any]) -> None:
        """The confirmed bulk delete: each selected row is deleted only if it still has the
        version the confirmation page showed; the others are kept and reported."""
        signed_by_pk: dict[str, SignedVersion] = {}
        for raw in request.POST.getlist(VERSION_FIELD_NAME):
            try:
                posted = read_version(raw, self.model, purpose=DELETE)
            except InvalidVersion:
                continue
            signed_by_pk[posted.pk] = posted
        objects = list(queryset)
        found = {str(obj.pk) for obj in objects}
        gone = [pk for pk in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME) if pk not in found]
        deleted: list[models.Model] = []
        stale: list[tuple[models.Model, SignedVersion]] = []
        unverified: list[models.Model] = []
        alias = router.db_for_write(self.model)
        try:
            with transaction.atomic(using=alias):
                for obj in objects:
                    signed = signed_by_pk.get(str(obj.pk))
                    if signed is None:
                        unverified.append(obj)
                        continue
                    kept = copy.copy(obj)  # keeps the pk for the history entry
                    try:
                        with expect_version(type(obj), obj.pk, signed.token):
                            self.delete_model(request, obj)
                    except VersionConflict as exc:
                        if exc.reason == VersionConflict.DATABASE:
                            raise
                        stale.append((obj, signed))
                        continue
                    deleted.append(kept)
                if deleted:
                    self.log_deletions(request, deleted)  # type: ignore[arg-type]
        except VersionConflict:
            self.message_user(
                request,
                gettext(
                    "Nothing was deleted: the database reported a concurrent change. Try again."
                ),
                messages.ERROR,
            )
            return
        self._report_bulk_delete(request, deleted, stale, unverified, gone)

    def _report_bulk_delete(
        self,
        request: HttpRequest,
        deleted: Sequence[models.Model],
        stale: Sequence[tuple[models.Model, SignedVersion]],
        unverified: Sequence[models.Model],
        gone: Sequence[str],
    ) -> None:
        from django.contrib.admin.utils import model_ngettext

        if deleted:
            self.message_user(
                request,
                gettext("Successfully deleted %(count)d %(items)s.")
                % {"count": len(deleted), "items": model_ngettext(self.opts, len(deleted))},
                messages.SUCCESS,
            )
        if stale:
            names = "; ".join(
                gettext("“%(object)s” (changed %(who)s)")
                % {"object": obj, "who": _change_by(self.model, obj.pk, signed.issued_at)}
                for obj, signed in stale
            )
            self.message_user(
                request,
                gettext(
                    "Not deleted, because they changed after the confirmation page was shown: "
                    "%(names)s. Review them and delete them again if you still want to."
                )
                % {"names": names},
                messages.WARNING,
            )
        if unverified:
            names = "; ".join(f"“{obj}”" for obj in unverified)
            self.message_user(
                request,
                gettext(
                    "Not deleted, because the confirmation did not carry their version: "
                    "%(names)s. Select them and delete them again."
                )
                % {"names": names},
                messages.ERROR,
            )
        if gone:
            self.message_user(
                request,
                gettext("Already deleted by someone else: %(count)d %(items)s (ID %(ids)s).")
                % {
                    "count": len(gone),
                    "items": model_ngettext(self.opts, len(gone)),
                    "ids": ", ".join(gone),
                },
                messages.INFO,
            )


def _forced(request: HttpRequest) -> frozenset[str]:
    return frozenset(getattr(request, _FORCED_ATTRIBUTE, ()))


@admin.action(
    permissions=["delete"], description=gettext_lazy("Delete selected %(verbose_name_plural)s")
)
def delete_selected(
    modeladmin: VersionedModelAdminMixin, request: HttpRequest, queryset: models.QuerySet[Any]
) -> HttpResponse | None:
    """Django's ``delete_selected`` with versions: the confirmation page carries a signed
    version per row, and the confirmed delete is a compare-and-swap per row."""
    if request.POST.get("post"):
        _objects, _count, perms_needed, protected = modeladmin.get_deleted_objects(
            queryset, request
        )
        if not protected:
            if perms_needed:
                raise PermissionDenied
            modeladmin.delete_versions(request, queryset)
            return None  # back to the change list, as Django does
    response = django_delete_selected(modeladmin, request, queryset)
    if isinstance(response, TemplateResponse) and response.context_data is not None:
        rows = response.context_data["queryset"]
        response.context_data["preconditions_versions"] = [
            sign_version(obj, purpose=DELETE) for obj in rows
        ]
        response.context_data["preconditions_field_name"] = VERSION_FIELD_NAME
    return response


class VersionedModelAdmin(VersionedModelAdminMixin):
    """A ``ModelAdmin`` whose writes cannot overwrite changes made since the page was shown.

    Register a :class:`~django_preconditions.models.VersionedModel` with it::

        @admin.register(Note)
        class NoteAdmin(VersionedModelAdmin):
            list_editable = ["title"]
    """


# --- Admin rules ------------------------------------------------------------------------------


def _split(value: Any) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return list(value or [])


class CommaSeparatedChoiceField(forms.MultipleChoiceField):
    """Checkboxes stored as one comma-separated string (``"PUT,PATCH,DELETE"``)."""

    def __init__(self, *, canonical: Callable[[str], str] = str, **kwargs: Any) -> None:
        self.canonical = canonical
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        return [self.canonical(item) for item in _split(value)]

    def clean(self, value: Any) -> str:
        chosen = set(super().clean(value))
        choices: Any = self.choices
        return ",".join(str(key) for key, _label in choices if key in chosen)

    def has_changed(self, initial: Any, data: Any) -> bool:
        return super().has_changed(self.prepare_value(initial), data)


class DatalistInput(forms.TextInput):
    """A text input with suggestions (``<datalist>``): pick one, or type another value."""

    template_name = "admin/django_preconditions/widgets/datalist_input.html"

    def __init__(
        self,
        options: Callable[[], Sequence[tuple[str, str]]],
        attrs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(attrs)
        self.options = options

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        list_id = f"{context['widget']['attrs'].get('id') or name}_options"
        context["widget"]["attrs"]["list"] = list_id
        context["widget"]["datalist"] = {"id": list_id, "options": self.options()}
        return context


class WildcardSelect(forms.NullBooleanSelect):
    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.choices = [
            ("unknown", "Default (the ALLOW_WILDCARD setting)"),
            ("true", "Yes: If-Match: * satisfies the requirement"),
            ("false", "No: If-Match: * gets 428"),
        ]


def view_key_options() -> list[tuple[str, str]]:
    """The project's URL names (dotted view paths for unnamed patterns) as ``(value, label)``
    for the view dropdown, leaving out the admin sites' own URLs."""
    from .urls_inventory import iter_endpoints

    endpoints = list(iter_endpoints())
    namespaces = {site.name for site in admin_sites()}
    admin_roots = tuple(
        endpoint.route
        for endpoint in endpoints
        if endpoint.route and endpoint.name in {f"{namespace}:index" for namespace in namespaces}
    )
    options: dict[str, str] = {}
    for endpoint in endpoints:
        if endpoint.name and endpoint.name.split(":", 1)[0] in namespaces:
            continue
        if admin_roots and endpoint.route.startswith(admin_roots):
            continue
        key = endpoint.name or endpoint.view_path
        options.setdefault(key, f"/{endpoint.route} → {endpoint.view_path}")
    return sorted(options.items())


def versioned_model_choices() -> list[tuple[str, str]]:
    """Installed :class:`VersionedModel` classes, as ``(app_label.Model, label)``."""
    choices = [
        (model._meta.label, f"{model._meta.label} ({model._meta.verbose_name})")
        for model in apps.get_models()
        if issubclass(model, VersionedModel)
    ]
    return sorted(choices)


class ProtectedEndpointForm(_RuleForm):
    """The rule form: dropdowns where the choices are known, free text where they are not;
    the model's ``clean()`` validates the whole rule like the ``VIEWS`` system checks."""

    view = forms.CharField(
        max_length=255,
        widget=DatalistInput(view_key_options, attrs={"size": 60}),
        help_text=gettext_lazy(
            "Pick a URL name of this project from the list, or type a view dotted path "
            "(e.g. notes.views.note_detail) or a route pattern (e.g. notes/&lt;int:pk&gt;/)."
        ),
    )
    # Declared fields take no initial value from the model: give the model's defaults, so
    # that an add form saved as shown is the model's default rule (issue 10, item 6).
    methods = CommaSeparatedChoiceField(
        choices=[(method, method) for method in defaults.PROTECTABLE_METHODS],
        canonical=str.upper,
        widget=forms.CheckboxSelectMultiple,
        initial=ProtectedEndpoint._meta.get_field("methods").default,
        help_text=gettext_lazy("Requests with these methods must carry a precondition."),
    )
    required_headers = CommaSeparatedChoiceField(
        choices=[(header, header) for header in defaults.ACCEPTABLE_HEADERS],
        canonical=lambda value: {h.lower(): h for h in defaults.ACCEPTABLE_HEADERS}.get(
            value.lower(), value
        ),
        widget=forms.CheckboxSelectMultiple,
        initial=ProtectedEndpoint._meta.get_field("required_headers").default,
        label=gettext_lazy("Accepted headers"),
        help_text=gettext_lazy("Any one of them satisfies the requirement."),
    )
    allow_wildcard = forms.NullBooleanField(
        required=False, widget=WildcardSelect, label="If-Match: *"
    )
    # A fixed set of registered names: what an admin types is never imported (item 4).
    error_format = forms.ChoiceField(
        required=False,
        choices=[
            ("", gettext_lazy("— the ERROR_FORMAT setting —")),
            *((fmt.name, fmt.label) for fmt in ERROR_FORMATS.values()),
        ],
        help_text=gettext_lazy(
            "Used only when the settings do not choose a format for this view; custom formats "
            "are configured in code (PRECONDITIONS settings), not here."
        ),
    )
    model_label = forms.ChoiceField(
        required=False,
        label=gettext_lazy("Model"),
        help_text=gettext_lazy(
            "Optional: a VersionedModel the view loads and saves; when the view saves or "
            "deletes the object named by the URL keyword argument, a stale precondition gets "
            "412 and the view's writes are rolled back."
        ),
    )

    class Meta:
        model = ProtectedEndpoint
        fields = (
            "view",
            "methods",
            "required_headers",
            "allow_wildcard",
            "error_format",
            "model_label",
            "lookup_url_kwarg",
            "lookup_field",
            "enabled",
            "mode",
            "note",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["lookup_url_kwarg"].label = gettext(
            "Lookup URL kwarg"
        )  # not "Lookup url kwarg"
        choices: list[tuple[str, str]] = [("", gettext("— none: require the headers only —"))]
        choices += versioned_model_choices()
        stored = self.instance.model_label
        if stored and stored not in dict(choices):
            choices.append(
                (stored, gettext("%(label)s (not an installed VersionedModel)") % {"label": stored})
            )
        field = self.fields["model_label"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices


def rules_status() -> str:
    """When this process last read the rules, and whether the last read failed (no query)."""
    from .rules import current_rules, last_read

    read_at = last_read()
    if read_at is None:
        status = gettext("This process has not read the rules successfully yet.")
    else:
        moment = formats.date_format(
            timezone.localtime(datetime.datetime.fromtimestamp(read_at, tz=datetime.UTC)),
            "DATETIME_FORMAT",
        )
        status = gettext("This process last read the rules at %(moment)s.") % {"moment": moment}
    error = current_rules().error
    if error:
        status += " " + gettext(
            "The last attempt failed (%(error)s): the rules read before stay in force."
        ) % {"error": error}
    return status


@admin.register(ProtectedEndpoint)
class ProtectedEndpointAdmin(VersionedModelAdmin):
    """Admin rules: which views must receive preconditions, enforced by the middleware."""

    form = ProtectedEndpointForm
    change_list_template = "admin/django_preconditions/protectedendpoint/change_list.html"
    list_display = (
        "view",
        "methods",
        "required_headers",
        "model_label",
        "wildcard",
        "enabled",
        "mode",
        "last_modified",
    )
    list_filter = ("enabled", "allow_wildcard", "error_format", "model_label")
    search_fields = ("view", "model_label", "note")
    actions = ("enable_rules", "disable_rules")
    fieldsets = (
        (None, {"fields": ("view", "methods", "required_headers", "enabled", "mode")}),
        (
            gettext_lazy("Versions checked when the view writes"),
            {"fields": ("model_label", "lookup_url_kwarg", "lookup_field")},
        ),
        (gettext_lazy("Responses"), {"fields": ("allow_wildcard", "error_format", "note")}),
    )

    @admin.display(description="If-Match: *", ordering="allow_wildcard")
    def wildcard(self, obj: ProtectedEndpoint) -> str:
        return {None: gettext("default"), True: gettext("accepted"), False: gettext("refused")}[
            obj.allow_wildcard
        ]

    @admin.action(description=gettext_lazy("Enable the selected rules"), permissions=["change"])
    def enable_rules(self, request: HttpRequest, queryset: models.QuerySet[Any]) -> None:
        self._set_enabled(request, queryset, enabled=True)

    @admin.action(description=gettext_lazy("Disable the selected rules"), permissions=["change"])
    def disable_rules(self, request: HttpRequest, queryset: models.QuerySet[Any]) -> None:
        self._set_enabled(request, queryset, enabled=False)

    def _set_enabled(
        self, request: HttpRequest, queryset: models.QuerySet[Any], *, enabled: bool
    ) -> None:
        """One UPDATE (new versions for the rows), then forget the cached rules: a queryset
        update sends no post_save, so without this the middleware would serve the old rules
        until the refresh interval passes."""
        from django.contrib.admin.models import CHANGE, LogEntry

        rules = list(queryset.exclude(enabled=enabled))
        if rules:
            ProtectedEndpoint.objects.filter(pk__in=[rule.pk for rule in rules]).update(
                enabled=enabled
            )
            user_id: Any = request.user.pk
            LogEntry.objects.log_actions(
                user_id=user_id,
                queryset=rules,
                action_flag=CHANGE,
                change_message=[{"changed": {"fields": ["Enabled"]}}],
            )
        invalidate_rules()
        message = (
            gettext("%(count)d rule(s) enabled; the change applies at once in this process.")
            if enabled
            else gettext("%(count)d rule(s) disabled; the change applies at once in this process.")
        )
        self.message_user(request, message % {"count": len(rules)}, messages.SUCCESS)

    def get_urls(self) -> list[URLPattern]:
        audit = path(
            "audit/",
            self.admin_site.admin_view(self.audit_view),
            name="django_preconditions_protectedendpoint_audit",
        )
        return [audit, *super().get_urls()]

    def audit_view(self, request: HttpRequest) -> HttpResponse:
        """The protection audit (read-only), linked from the change list."""
        from .audit import audit_admin_view

        return audit_admin_view(request, admin_site=self.admin_site)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "preconditions_audit_url": reverse(
                "admin:django_preconditions_protectedendpoint_audit",
                current_app=self.admin_site.name,
            ),
            "preconditions_rules_status": rules_status(),
        }
        return super().changelist_view(request, extra_context)


from . import reporting_admin  # noqa: E402, F401  (registers the report-only report, issue 14)
