"""``VersionedModelAdmin``: admin pages whose writes cannot overwrite a change unseen."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.options import TO_FIELD_VAR
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.core.exceptions import (
    ImproperlyConfigured,
    PermissionDenied,
    ValidationError,
)
from django.db import models, router, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy, ngettext

from ..exceptions import VersionConflict
from ..models import (
    VERSION_FIELD,
    VersionedModel,
    VersionExpectation,
    expect_version,
    pop_expectation,
    push_expectation,
)
from .forms import versioned_form
from .reports import _change_by
from .signing import (
    _FORCED_ATTRIBUTE,
    _OBJECT_CACHE_ATTRIBUTE,
    DELETE,
    VERSION_FIELD_NAME,
    InvalidVersion,
    SignedVersion,
    _invalid_message,
    _same_pk,
    read_version,
    sign_version,
)

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = admin.ModelAdmin

# --- The admin -------------------------------------------------------------------------------


def _posted_versions(request: HttpRequest) -> Iterator[str]:
    for key, values in request.POST.lists():
        if key == VERSION_FIELD_NAME or key.endswith(f"-{VERSION_FIELD_NAME}"):
            yield from values


def _pk_text(model: type[models.Model], value: str) -> str:
    """``value`` as ``str(obj.pk)`` spells it (``"01"`` is ``"1"``): a selected row the
    queryset found is not reported as gone; a value the key cannot hold stays as it is."""
    pk_field = model._meta.pk
    assert pk_field is not None
    try:
        return str(pk_field.to_python(value))
    except ValidationError:
        return value


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
        if to_field or not _same_pk(self.model, signed.pk, key):
            return None  # a version of another row: it says nothing about this one
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

        if request.method != "POST" or "_save" not in request.POST:
            # Not the list_editable save: an action (it reads the rows it changes itself,
            # so the page's versions are not expected of it, and it is never run twice).
            return run()
        try:
            with self._expected_versions(request):
                response = run()
        except VersionConflict as conflict:
            # Django saves the rows in one transaction: none was saved. Shown again, with
            # what changed.
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
        if target is None or not self.has_delete_permission(request, target):
            # Django's answer: its 403 comes before anything about the version, which would
            # tell a user who may not delete the row that it exists (rules 12, 13).
            return super().delete_view(request, object_id, extra_context)
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
        gone = [
            pk
            for pk in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
            if _pk_text(self.model, pk) not in found
        ]
        deleted: list[models.Model] = []
        stale: list[tuple[models.Model, SignedVersion]] = []
        unverified: list[models.Model] = []
        alias = router.db_for_write(self.model)
        confirmed = {str(obj.pk): obj for obj in objects if str(obj.pk) in signed_by_pk}
        unverified.extend(obj for obj in objects if str(obj.pk) not in confirmed)
        try:
            # Every confirmed row is expected for the whole action, so that deleting one
            # that another one is linked to (a many-to-many relation) versions the other
            # as the action's own write, which its delete then follows (rule 52).
            with transaction.atomic(using=alias), contextlib.ExitStack() as stack:
                expected = {
                    pk: push_expectation(type(obj), obj.pk, signed_by_pk[pk].token)
                    for pk, obj in confirmed.items()
                }
                for expectation in expected.values():
                    stack.callback(pop_expectation, expectation)
                for pk, obj in confirmed.items():
                    kept = copy.copy(obj)  # keeps the pk for the history entry
                    if pk in expected and self._delete_confirmed(
                        request, queryset, obj, signed_by_pk[pk], expected, alias
                    ):
                        deleted.append(kept)
                    else:
                        stale.append((obj, signed_by_pk[pk]))
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

    def _delete_confirmed(
        self,
        request: HttpRequest,
        queryset: models.QuerySet[Any],
        obj: models.Model,
        signed: SignedVersion,
        expected: dict[str, VersionExpectation],
        alias: str,
    ) -> bool:
        """Delete one confirmed row, in a savepoint; ``False`` when it changed since the
        confirmation. When the delete found another confirmed row changed (one it versions),
        that row is stale: it is no longer expected (and is reported), and the delete is
        tried again."""
        # A project's delete_queryset() (a soft delete, say) is what Django's bulk delete
        # calls: it is called here too, one confirmed row at a time; otherwise each row is
        # deleted through delete_model(), as on its delete page.
        own_bulk_delete = type(self).delete_queryset is not admin.ModelAdmin.delete_queryset
        while True:
            try:
                with transaction.atomic(using=alias):
                    if own_bulk_delete:
                        # The version the action followed: the confirmed one, or the one
                        # its own delete of a linked row gave this row.
                        token = expected[str(obj.pk)].token or signed.token
                        return self._delete_through_queryset(request, queryset, obj, token)
                    self.delete_model(request, obj)
                    return True
            except VersionConflict as exc:
                if exc.reason == VersionConflict.DATABASE:
                    raise
                other = str(exc.pk)
                if other == str(obj.pk) or other not in expected:
                    return False
                pop_expectation(expected.pop(other))

    def _delete_through_queryset(
        self,
        request: HttpRequest,
        queryset: models.QuerySet[Any],
        obj: models.Model,
        token: str,
    ) -> bool:
        """The project's ``delete_queryset()`` for one row, given only while the row has the
        version ``token``; ``False`` when it no longer has. Its queryset is filtered by that
        version, so a bulk ``update()`` or ``delete()`` in it is a compare-and-swap too, and
        a ``save()`` of a row it yields is one by the surrounding expectation."""
        matched = queryset.filter(pk=obj.pk, **{VERSION_FIELD: token})
        if not matched.exists():
            return False
        self.delete_queryset(request, matched)
        return True

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
