"""The ``ProtectedEndpoint`` admin: the rules the middleware enforces, and their form."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils import formats, timezone
from django.utils.translation import gettext, gettext_lazy

from .. import defaults
from .._compat import admin_sites
from ..conf import split_comma_list
from ..formats import ERROR_FORMATS
from ..models import (
    ProtectedEndpoint,
    VersionedModel,
)
from ..rules import invalidate_rules
from .options import VersionedModelAdmin

if TYPE_CHECKING:
    _RuleForm = forms.ModelForm[ProtectedEndpoint]
else:
    _RuleForm = forms.ModelForm

# --- Admin rules ------------------------------------------------------------------------------


class CommaSeparatedChoiceField(forms.MultipleChoiceField):
    """Checkboxes stored as one comma-separated string (``"PUT,PATCH,DELETE"``)."""

    def __init__(self, *, canonical: Callable[[str], str] = str, **kwargs: Any) -> None:
        self.canonical = canonical
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        return [self.canonical(item) for item in split_comma_list(value)]

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
    from ..urls_inventory import iter_endpoints

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

    def clean(self) -> dict[str, Any]:
        """One enabled rule per view: a second one, under another of the view's keys, would
        be merged with the first (it can only add protection), but the admin would show two
        rules where one applies. Refused when a rule becomes enabled or changes its view, so
        that a user who may only add rules cannot change what another rule says."""
        super().clean()
        cleaned = self.cleaned_data
        view = cleaned.get("view")
        adding = self.instance._state.adding
        if (
            view
            and cleaned.get("enabled")
            and (adding or {"enabled", "view"} & set(self.changed_data))
        ):
            from ..validation import sibling_rules

            others = sibling_rules(view, exclude_pk=None if adding else self.instance.pk)
            if others:
                self.add_error(
                    "view",
                    gettext(
                        "This view already has an enabled rule, under %(rules)s. Edit that "
                        "rule instead (a view has one enabled rule), or save this one disabled."
                    )
                    % {"rules": ", ".join(repr(rule.view) for rule in others)},
                )
                # add_error() dropped it: the model's clean() must check the view as typed,
                # not an empty one ("'' matches no URL pattern").
                cleaned["view"] = view
        return cleaned


def rules_status() -> str:
    """When this process last read the rules, and whether the last read failed (no query)."""
    from ..rules import current_rules, last_read

    read_at = last_read()
    if read_at is None:
        status = gettext("This process has not read the rules successfully yet.")
    else:
        moment = formats.date_format(
            timezone.localtime(datetime.datetime.fromtimestamp(read_at, tz=datetime.timezone.utc)),
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

        rules = list(queryset.exclude(enabled=enabled).order_by("view"))
        if enabled:
            rules, refused = _one_enabled_rule_per_view(rules)
            if refused:
                self.message_user(
                    request,
                    gettext(
                        "Not enabled, because another enabled rule already protects the same "
                        "view (edit that rule instead): %(rules)s."
                    )
                    % {"rules": ", ".join(rule.view for rule in refused)},
                    messages.WARNING,
                )
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
        from ..audit import audit_admin_view

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


def _one_enabled_rule_per_view(
    rules: Sequence[ProtectedEndpoint],
) -> tuple[list[ProtectedEndpoint], list[ProtectedEndpoint]]:
    """The rules that may be enabled, and those refused: a view has one enabled rule, as the
    rule form ensures (``validation.sibling_rules``) — counting those enabled earlier in the
    same batch."""
    from ..urls_inventory import iter_endpoints
    from ..validation import sibling_rules, view_key_family

    endpoints = list(iter_endpoints())
    taken: set[str] = set()
    accepted: list[ProtectedEndpoint] = []
    refused: list[ProtectedEndpoint] = []
    for rule in rules:
        keys = view_key_family(rule.view, endpoints) | {rule.view}
        if keys & taken or sibling_rules(rule.view, exclude_pk=rule.pk, endpoints=endpoints):
            refused.append(rule)
            continue
        taken |= keys
        accepted.append(rule)
    return accepted, refused
