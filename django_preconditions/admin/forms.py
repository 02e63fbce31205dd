"""The versioned form: a signed-version field and the compare-and-swap on save."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from django import forms
from django.core.exceptions import (
    FieldDoesNotExist,
    ValidationError,
)
from django.db import models
from django.forms.boundfield import BoundField
from django.utils.text import capfirst
from django.utils.translation import gettext, gettext_lazy

from .reports import (
    ConflictReport,
    FieldDifference,
    _change_by,
    _display,
    _latest_change,
    _username,
)
from .signing import (
    _UNKNOWN,
    VERSION_FIELD_NAME,
    InvalidVersion,
    SignedVersion,
    _decode,
    _encode,
    _invalid_message,
    _same_pk,
    read_version,
    sign_version,
)

if TYPE_CHECKING:
    _VersionedFormBase = forms.ModelForm[Any]
else:
    _VersionedFormBase = object

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
        base: dict[str, Any] = {}
        for name in self.fields:
            field = self._model_field(name)
            if field is not None and name != VERSION_FIELD_NAME:
                base[name] = _encode(field, self.initial.get(name), hidden=self._hides(name))
        return base

    def _hides(self, name: str) -> bool:
        """Whether the form never shows the value of field ``name`` (a password input that
        does not render it, a plain file input): the editor may not see it, so neither the
        signed version nor a conflict report carries it."""
        widget = self.fields[name].widget
        return getattr(widget, "render_value", True) is False or (
            isinstance(widget, forms.FileInput) and not isinstance(widget, forms.ClearableFileInput)
        )

    def _model_field(self, name: str) -> models.Field[Any, Any] | None:
        """The model field behind form field ``name``; ``None`` for a form-only field."""
        try:
            field = self.instance._meta.get_field(name)
        except FieldDoesNotExist:
            return None
        return field if isinstance(field, models.Field) else None

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
            field = self._model_field(name) if name in self.fields else None
            if field is None:
                continue
            current = self.initial.get(name)
            hidden = self._hides(name)
            if _encode(field, current, hidden=hidden) == base_encoded:
                continue
            base = _decode(field, base_encoded)
            state = self._field_state(name, field, base, base_encoded, hidden=hidden)
            label = str(self.fields[name].label or capfirst(field.verbose_name))
            differences.append(
                FieldDifference(
                    name=name,
                    label=label,
                    base=gettext("(not shown)") if hidden else _display(field, base),
                    current=gettext("(not shown)") if hidden else _display(field, current),
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

    def _field_state(
        self,
        name: str,
        field: models.Field[Any, Any],
        base: Any,
        base_encoded: Any,
        *,
        hidden: bool,
    ) -> str:
        """``"same"`` (not in the input), ``"conflict"`` (the editor changed it too) or
        ``"theirs"`` (only the other editor did: the form shows the current value, so that
        saving again keeps their change)."""
        if name not in self.changed_data:
            return "same"
        if not self._posted_as_base(name, field, base, base_encoded, hidden=hidden):
            return "conflict"
        self._preconditions_show_current[name] = _CurrentValueBoundField(
            self,
            self.fields[name],
            name,
        )
        return "theirs"

    def _posted_as_base(
        self,
        name: str,
        field: models.Field[Any, Any],
        base: Any,
        base_encoded: Any,
        *,
        hidden: bool,
    ) -> bool:
        """Whether the posted value of ``name`` is the one the form was made from, compared
        as the form field compares (``has_changed``) or, for a value the signed version
        keeps only as a digest (long or hidden), by the digest of the posted value as sent
        or as the field reads it."""
        form_field = self.fields[name]
        data = super().__getitem__(name).data
        if base is not _UNKNOWN:
            if isinstance(base, (datetime.datetime, datetime.time)) and not getattr(
                form_field.widget, "supports_microseconds", True
            ):
                base = base.replace(microsecond=0)
            if not form_field.has_changed(base, data):
                return True
        candidates = [data]
        try:
            candidates.append(form_field.to_python(data))
        except ValidationError:
            pass
        return any(_encode(field, value, hidden=hidden) == base_encoded for value in candidates)


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
