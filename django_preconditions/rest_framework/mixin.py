"""Django REST framework: :class:`PreconditionMixin` for ``GenericAPIView`` and viewsets.

A thin adapter: preconditions are decided by the core's
:class:`~django_preconditions.enforcement.Enforcer`, and the write made a compare-and-swap by
:func:`~django_preconditions.models.expect_version`; this module only decides *when* (right
after ``get_object()``, so DRF's 401/403/404 come first, and before the serializer reads the
body) and turns refusals into the ``APIException`` subclasses of :mod:`.exceptions` so a
project's exception handler sees them. Create-by-``PUT`` (rules 26, 31) lives here too;
collection ETags are computed in :mod:`.lists`, the browsable API's forms in :mod:`.browsable`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from django.core.exceptions import ImproperlyConfigured, ObjectDoesNotExist
from django.db import DatabaseError, IntegrityError, models, router, transaction
from django.db.models.constants import LOOKUP_SEP
from django.http import Http404, HttpRequest, QueryDict
from django.http.request import RawPostDataException
from django.urls import NoReverseMatch
from rest_framework import exceptions, status
from rest_framework.mixins import (
    CreateModelMixin,
    DestroyModelMixin,
    RetrieveModelMixin,
    UpdateModelMixin,
)
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.serializers import BaseSerializer, ListSerializer
from rest_framework.views import APIView

from .._compat import on_write_database
from ..conditions import (
    CONDITIONAL_HEADERS,
    IF_MATCH,
    IF_NONE_MATCH,
    IGNORED_METHODS,
    SAFE_METHODS,
    Decision,
    Outcome,
    Reason,
    ResourceState,
)
from ..creation import advance_sequence, creatable_key, is_primary_key
from ..dbconflicts import conflict_from
from ..enforcement import (
    Enforcer,
    PreconditionContext,
    Snapshot,
    conditional_headers,
    conflict_aftermath,
    finish,
    not_modified_headers,
    set_validators,
)
from ..exceptions import VersionConflict
from ..formats import built_in
from ..headers import CONTENT_TYPE, ETAG, LOCATION, EntityTag, meta_key
from ..models import (
    VersionedModel,
    VersionExpectation,
    expect_creation,
    load_version_with_row,
    pop_expectation,
    push_instance_expectation,
    with_version_fields,
)
from ..policy import (
    REPORT,
    Policy,
    attribute_overrides,
    dotted_path,
    enforced_by_admin_rule,
    mixin_comes_first,
    route_key,
    settings_generation,
    view_handles,
    view_keys_for_request,
)
from ..responses import PreconditionError, announce, render
from ..transactions import (
    Aftermath,
    OtherWrites,
    RequestTransaction,
    atomic_request_aliases,
    keep_body,
    mark_retryable,
    own_request_transaction,
    run_with_retries,
)
from .browsable import PreconditionBrowsableAPIRenderer
from .exceptions import (
    _EXCEPTIONS,
    DatabaseConflict,
    PreconditionAPIException,
    PreconditionFailed,
    _ConflictEscape,
    _NotModified,
)
from .lists import collection_etag, token_page_etag

if TYPE_CHECKING:
    from rest_framework.generics import GenericAPIView
    from rest_framework.renderers import BaseRenderer

    _ViewBase = GenericAPIView[Any]
else:
    _ViewBase = object

__all__ = ["PreconditionMixin"]

_IF_NONE_MATCH_KEY: Final = meta_key(IF_NONE_MATCH)
# Methods whose requests carry no body to keep and write nothing the mixin guards.
_READ_ONLY_METHODS: Final = SAFE_METHODS | IGNORED_METHODS
# The decision set as ``request.preconditions`` before the object is checked, per method
# (decisions are immutable: one per method serves every request).
_NOT_EVALUATED: dict[str, Decision] = {}


# The request transaction of a request that opens none (no ATOMIC_REQUESTS database).
_NO_TRANSACTION: Final = contextlib.nullcontext(RequestTransaction(()))


def _not_evaluated(method: str) -> Decision:
    decision = _NOT_EVALUATED.get(method)
    if decision is None:
        decision = _NOT_EVALUATED[method] = Decision(Outcome.PROCEED, Reason.NOT_EVALUATED, method)
    return decision


class _NotModifiedResponse(Response):
    """A 304 that never renders a body, whatever renderer was negotiated."""

    @property
    def rendered_content(self) -> str:
        if self.has_header(CONTENT_TYPE):
            del self[CONTENT_TYPE]
        return ""


def _not_modified_response(snapshot: Snapshot) -> Response:
    response = _NotModifiedResponse(status=status.HTTP_304_NOT_MODIFIED)
    for name, value in not_modified_headers(snapshot).items():
        response.headers[name] = value
    return response


# --- Per-request state ---------------------------------------------------------------------


def _with_value(data: Any, name: str, value: Any) -> Any:
    """A copy of a request body with ``name`` set to ``value`` (a body that is not a mapping
    is left as it is: the serializer rejects it)."""
    if isinstance(data, QueryDict):
        copy = QueryDict(mutable=True)
        for key, values in data.lists():  # shallow: uploaded files are not copied
            copy.setlist(key, values)
        copy[name] = str(value)
        return copy
    if isinstance(data, Mapping):
        return {**data, name: value}
    return data


class _Tracking:
    """What the mixin learnt during one request (the view instance lives for one request).

    A plain class whose defaults are class attributes: made on every request, it sets only
    what it is given (a dataclass's ``__init__`` would assign all eighteen fields)."""

    #: Inside DRF's dispatch (the handler, not the later rendering): an unsafe method's
    #: expected version is registered only then, and ends with it.
    dispatching: bool = False
    policy: Policy | None = None
    instance: VersionedModel | None = None
    snapshot: Snapshot | None = None
    decision: Decision | None = None
    expectation: VersionExpectation | None = None
    created: VersionedModel | None = None
    form_token: str | None = None
    list_etag: EntityTag | None = None
    #: List serializers made for this request (only the first one's page gets an ETag).
    lists_seen: int = 0
    #: A read serialized an object other than the one ``get_object()`` loaded (a section
    #: beside a list, another row in a detail action): no one version names the response.
    other_objects: bool = False
    #: Whether a write stands outside the request's transaction (see ``OtherWrites``).
    other_writes: OtherWrites | None = None
    #: Whether the view's paginator paginated this request (``None``: not asked).
    paginated: bool | None = None
    method: str | None = None  # the request's real method, set by dispatch()
    # The Django request, set by dispatch(): its headers are read there directly, not
    # through DRF's Request.__getattr__.
    http_request: HttpRequest | None = None
    #: DRF's error parsing the body while looking for the form field: raised once the
    #: preconditions let the handler run (they are decided first: rule 11).
    body_error: Exception | None = None

    def __init__(
        self,
        *,
        dispatching: bool = False,
        method: str | None = None,
        http_request: HttpRequest | None = None,
    ) -> None:
        self.dispatching = dispatching
        self.method = method
        self.http_request = http_request
        #: The serializers made for this request.
        self.serializers: list[BaseSerializer[Any]] = []


def _url_encoded_body(request: HttpRequest | None) -> QueryDict | None:
    """The fields of a url-encoded body (``None`` for another body, or one already
    streamed)."""
    if request is None or request.content_type != "application/x-www-form-urlencoded":
        return None
    try:
        return QueryDict(request.body, encoding=request.encoding)
    except RawPostDataException:
        return None


def _is_loaded_row(instance: Any, snapshot: Snapshot | None) -> bool:
    """Whether ``instance`` is the row ``get_object()`` loaded (that object or another copy
    of the same row)."""
    loaded = snapshot.instance if snapshot is not None else None
    if instance is loaded:
        return loaded is not None
    return (
        isinstance(instance, models.Model)
        and isinstance(loaded, models.Model)
        and instance._meta.concrete_model is loaded._meta.concrete_model
        and instance.pk == loaded.pk
    )


# Policies of views that keep the default get_precondition_policy(), by (view class, action,
# route), and the settings generation they were resolved under.
_class_policies: list[Any] = [-1, {}]


# --- The mixin -----------------------------------------------------------------------------


_UNKNOWN: Final = object()


def _lookup_value(instance: models.Model, lookup_field: str) -> Any:
    """The value of ``instance`` that DRF's ``lookup_field`` looks up: an attribute, or one
    along a lookup path (``"owner__username"``; what follows the fields, as ``iexact`` in
    ``"slug__iexact"``, is a lookup and names no attribute); :data:`_UNKNOWN` when it cannot
    be read (a missing related object). The ``Location`` of a created object is built from
    it once the object is saved: a failure there must not turn the 201 into a 500."""
    value: Any = instance
    for part in lookup_field.split(LOOKUP_SEP):
        if value is None:  # an empty relation on the way
            return _UNKNOWN
        if not isinstance(value, models.Model):
            return value  # past the fields: the rest is a lookup
        try:
            value = getattr(value, part)
        except (AttributeError, ObjectDoesNotExist):
            return _UNKNOWN
    return value


class PreconditionMixin(_ViewBase):
    """Require and evaluate preconditions on a DRF generic view or viewset.

    Put it first among the bases. Attributes override the ``PRECONDITIONS`` settings for
    this view (``None`` keeps them); ``precondition_actions`` overrides them per action, e.g.
    ``{"destroy": {"required_headers": ["If-Match"]}}``. ``@action(...)`` accepts the same
    ``precondition_*`` keywords.
    """

    precondition_methods: Iterable[str] | None = None
    precondition_required_headers: Iterable[str] | None = None
    precondition_allow_wildcard: bool | None = None
    precondition_weak_if_match: bool | None = None
    precondition_error_format: Any = None
    precondition_include_current_etag: bool | None = None
    #: "enforce" or "report" (``None``: settings); see docs/rollout.md.
    precondition_mode: str | None = None
    #: Per-action policy overrides: ``{action name: {VIEWS-style key: value}}``.
    precondition_actions: Mapping[str, Mapping[str, Any]] | None = None
    #: ``PUT`` to an absent object creates it when it carries ``If-None-Match: *`` (rule 26).
    precondition_allow_create: bool = False
    #: Send a collection ``ETag`` on list responses (and answer 304 to a matching one).
    precondition_list_etag: bool = True
    #: Form field through which the browsable API sends the ETag its forms were rendered
    #: with (HTML forms cannot set headers). ``None`` turns the browsable-API support off.
    precondition_form_field: str | None = "_if_match"
    #: URL name of the detail route, for ``Location`` after a create when the view is not a
    #: router-registered viewset (those find their detail route themselves).
    precondition_detail_url_name: str | None = None
    #: Tells the middleware and audits that this view enforces preconditions itself: false
    #: for a class that lists the mixin after ``APIView`` (``ModelViewSet``), whose own
    #: methods then run instead of the mixin's (check preconditions.E022).
    preconditions_protected: bool = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.preconditions_protected = mixin_comes_first(cls, PreconditionMixin, APIView)

    # What the mixin learnt during the current request (set by dispatch()).
    _precondition_tracking: _Tracking | None = None

    # -- policy --

    def get_precondition_policy(self) -> Policy:
        """The policy for the current request and action: settings, then ``VIEWS`` (an
        ``"<view dotted path>.<action>"`` key first), then the attributes, then
        ``precondition_actions``."""
        keys, overrides = self._policy_inputs()
        return Policy.resolve(keys, **overrides)

    def _policy_inputs(self) -> tuple[tuple[str, ...], dict[str, Any]]:
        """The ``VIEWS`` keys and the code overrides :meth:`get_precondition_policy` uses."""
        view_path = dotted_path(type(self))
        action = getattr(self, "action", None)
        keys: list[str] = [f"{view_path}.{action}"] if action else []
        request = getattr(self, "request", None)
        if request is not None:
            keys.extend(view_keys_for_request(request))
        keys.append(view_path)
        overrides = attribute_overrides(self)
        per_action = (self.precondition_actions or {}).get(action or "")
        if per_action:
            overrides.update(per_action)
        return tuple(keys), overrides

    def _tracking(self) -> _Tracking:
        """This request's tracking (set by :meth:`dispatch`; made here for a view method called
        outside it). Hot paths read ``self._precondition_tracking`` first."""
        tracking = self._precondition_tracking
        if tracking is None:
            tracking = self._precondition_tracking = _Tracking()
        return tracking

    def _policy(self) -> Policy:
        tracking = self._precondition_tracking or self._tracking()
        policy = tracking.policy
        if policy is None:
            policy = tracking.policy = self._resolved_policy()
        return policy

    def _resolved_policy(self) -> Policy:
        """``get_precondition_policy()``, remembered per view class, action and route until
        ``PRECONDITIONS`` changes; called on every request when a subclass overrides it."""
        if type(self).get_precondition_policy is not PreconditionMixin.get_precondition_policy:
            return self.get_precondition_policy()
        request = getattr(self, "request", None)
        key = (type(self), getattr(self, "action", None), route_key(request) if request else ())
        generation, policies = _class_policies
        if generation != settings_generation():
            policies = {}
            _class_policies[:] = [settings_generation(), policies]
        known = policies.get(key)
        if known is None:
            keys, overrides = self._policy_inputs()
            known = policies[key] = (keys, Policy.resolve_base(keys, **overrides))
        keys, policy = known
        # Enforce mode (the default): no admin rule can change it, no call.
        return policy if policy.mode != REPORT else enforced_by_admin_rule(policy, keys)

    # -- request plumbing --

    @classmethod
    def as_view(cls, *args: Any, **kwargs: Any) -> Any:
        """DRF's ``as_view()``; under ``ATOMIC_REQUESTS`` the view runs in the mixin's own
        request transaction (see :mod:`django_preconditions.transactions`)."""
        return own_request_transaction(super().as_view(*args, **kwargs))

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if request.method not in _READ_ONLY_METHODS:
            keep_body(request)  # DRF's parsers would stream it: a retry could not replay it
        return run_with_retries(request, lambda: self._dispatch_once(request, *args, **kwargs))

    def _dispatch_once(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        # The expectation registered in get_object() must outlive the handler (the save runs
        # there) and end with DRF's whole dispatch. Around it, the request transaction: a lost
        # race or a database conflict (also one raised by the COMMIT) leaves it, rolled back,
        # and is answered here (rules 47, 51, 55).
        tracking = _Tracking(
            dispatching=True, method=(request.method or "GET").upper(), http_request=request
        )
        self._precondition_tracking = tracking
        view = type(self).dispatch
        # Without ATOMIC_REQUESTS there is no transaction to open: skip the context manager.
        aliases = atomic_request_aliases(view)
        block = RequestTransaction(aliases) if aliases else _NO_TRANSACTION
        tracking.other_writes = others = OtherWrites(
            aliases, may_write=tracking.method not in SAFE_METHODS
        )
        try:
            try:
                with others, block as atomic:
                    try:
                        response = super().dispatch(request, *args, **kwargs)
                    finally:
                        # Rendering (the browsable API's forms) comes later, outside.
                        tracking.dispatching = False
                    if response.status_code in (412, 428):
                        atomic.roll_back()  # a refusal leaves no trace (rule 51)
            finally:
                # After the COMMIT: a save in a transaction.on_commit() callback is compared
                # and swapped, and followed, too (rule 52).
                if tracking.expectation is not None:
                    pop_expectation(tracking.expectation)
        except (_ConflictEscape, VersionConflict, DatabaseError) as exc:
            conflict = exc.conflict if isinstance(exc, _ConflictEscape) else conflict_from(exc)
            if conflict is None:
                raise
            answer = self._answer_conflict(conflict)
            self.response = self.finalize_response(
                self.request, self.handle_exception(answer), *args, **kwargs
            )
            if isinstance(answer, DatabaseConflict) and answer.retryable:
                mark_retryable(self.response)
            return self.response
        if (
            aliases
            and isinstance(response, Response)
            and 200 <= response.status_code < 300
            and not isinstance(response, _NotModifiedResponse)
        ):
            # The validators again, now that on_commit() callbacks have run: one may have
            # saved the row (or the created object) once more.
            self._add_validators(self.request, response)
        return response

    def _method(self) -> str:
        """The request's real method (DRF's OPTIONS metadata and browsable API clone the
        request with another method to probe permissions); read once per request."""
        tracking = self._precondition_tracking
        if tracking is not None and tracking.method is not None:
            return tracking.method
        request = self.request
        original = getattr(request, "_request", request)
        return (original.method or "GET").upper()

    def _conditional_headers(self, method: str, *, form: bool) -> Mapping[str, str]:
        """The request's headers; for a browsable-API form that carries the token in
        ``precondition_form_field`` and no conditional header, that token as ``If-Match``."""
        tracking = self._precondition_tracking or self._tracking()
        headers = conditional_headers(tracking.http_request or self.request)
        if tracking.form_token is not None:
            return {IF_MATCH: tracking.form_token}
        field_name = self.precondition_form_field
        if (
            form
            and field_name
            and method not in SAFE_METHODS
            and isinstance(getattr(self.request, "accepted_renderer", None), BrowsableAPIRenderer)
            and not any(name in headers for name in CONDITIONAL_HEADERS)
        ):
            data: Any
            try:
                data = self.request.data  # parsed only for browsable-API requests
            except (exceptions.ParseError, exceptions.UnsupportedMediaType) as error:
                # The DELETE button's form is url-encoded whatever the view parses (a
                # JSON-only API): its field is read from the body as is. Another method
                # still needs a body its parsers take (the error is raised once decided).
                data = _url_encoded_body(tracking.http_request)
                if data is None or method != "DELETE":
                    tracking.body_error = error
                if data is None:
                    return headers
            value = data.get(field_name) if isinstance(data, Mapping) else None
            if isinstance(value, str) and value:
                tracking.form_token = value
                return {IF_MATCH: value}
        return headers

    def _decide(self, snapshot: Snapshot, *, required: bool = True, form: bool = False) -> Decision:
        tracking = self._precondition_tracking
        method = (tracking and tracking.method) or self._method()
        decision = self._enforcer().decide(
            self.request,
            snapshot,
            (tracking and tracking.policy) or self._policy(),
            method=method,
            headers=self._conditional_headers(method, form=form),
            required=required,
        )
        if tracking and tracking.body_error is not None and decision.proceeds:
            # DRF has replaced the body by empty data: the handler must not run on it.
            raise tracking.body_error
        return decision

    @classmethod
    def _enforcer(cls) -> Enforcer:
        """The core's steps for this view class (made once); DRF keeps its own timing
        around them."""
        enforcer: Enforcer | None = cls.__dict__.get("_precondition_core")
        if enforcer is None:
            enforcer = Enforcer(cls)
            cls._precondition_core = enforcer  # type: ignore[attr-defined]
        return enforcer

    def _refusal(self, decision: Decision, snapshot: Snapshot) -> Exception | None:
        """The exception that replaces the handler, or ``None`` when it must run."""
        if decision.proceeds:
            return None
        if decision.outcome is Outcome.NOT_MODIFIED:
            return _NotModified(snapshot)
        policy = self._policy()
        error = self._enforcer().error(self.request, decision, policy, snapshot)
        return _EXCEPTIONS[decision.outcome](error=error, decision=decision, policy=policy)

    # -- before the handler --

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        tracking = self._precondition_tracking
        method = (tracking and tracking.method) or self._method()
        # Set on every request, OPTIONS included; replaced once the object is checked.
        request.preconditions = PreconditionContext(  # type: ignore[attr-defined]
            None, self._policy(), _not_evaluated(method)
        )
        if method in SAFE_METHODS or not view_handles(self, method):
            # DRF answers 405 next, before any precondition (rule 12). A read-only viewset has
            # no put(): it never gains one for a create-by-PUT.
            return
        # POST to the collection: the target is the collection, which exists, so
        # "If-None-Match: *" fails (rule 27). Nothing is required of a create.
        lookup = self.lookup_url_kwarg or self.lookup_field
        action = getattr(self, "action", None)  # a viewset's; None for other views
        if method == "POST" and self._posts_to_collection(action, lookup):
            collection = Snapshot(state=ResourceState(exists=True))
            refusal = self._refusal(self._decide(collection, required=False), collection)
            if refusal is not None:
                raise refusal
        elif (
            method == "PUT"
            and self.precondition_allow_create
            and lookup in self.kwargs
            and action in (None, "update")
        ):
            # PUT to an absent object creates it (rules 26, 31). Routing PUT here rather than
            # overriding update() keeps the mixin from adding PUT to read-only viewsets. Not
            # for a viewset's extra actions: "/docs/9/body/" names a part of the object, which
            # does not create the object (its handler answers 404).
            try:
                self.get_object()
            except Http404:
                setattr(self, "put", self.create_by_put)  # noqa: B010

    def _posts_to_collection(self, action: str | None, lookup: str) -> bool:
        """Whether a POST targets the collection (rule 27): its URL names no object, or the
        view's handler creates in the collection although the URL carries the lookup's
        keyword argument (a parent's ``<pk>``): a viewset's ``create``, or a view that only
        creates and lists (``ListCreateAPIView``)."""
        if lookup not in self.kwargs:
            return True
        if action is not None:
            return action == "create"
        return isinstance(self, CreateModelMixin) and not isinstance(
            self, (RetrieveModelMixin, UpdateModelMixin, DestroyModelMixin)
        )

    def get_queryset(self) -> models.QuerySet[Any]:
        """The view's queryset, loading the version fields with each row whatever its
        ``only()``/``defer()`` (an ``ETag`` names the data served with it: rules 39, 44); for
        a write, on the database writes go to, so that the version the write is checked
        against is never read on a replica (rule 54)."""
        queryset = super().get_queryset()
        if isinstance(queryset, models.QuerySet):  # not a list a view returns instead
            queryset = with_version_fields(queryset)
            if self._method() not in _READ_ONLY_METHODS:
                queryset = on_write_database(queryset)
        return queryset

    def filter_queryset(self, queryset: Any) -> Any:
        """DRF's filtering; the version fields loaded with each row, also when the view's own
        ``get_queryset()`` (which need not call ours) defers them."""
        queryset = super().filter_queryset(queryset)
        if isinstance(queryset, models.QuerySet):
            queryset = with_version_fields(queryset)
        return queryset

    def get_object(self) -> Any:
        """DRF's ``get_object()`` (404, object permissions), then the preconditions.

        The object is cached for the request, so the handler's own ``get_object()`` call
        costs no query. For unsafe methods its version is expected (as by
        :func:`expect_version`) until the response is sent: the handler's ``save()`` or
        ``delete()`` of that row is a single compare-and-swap statement.
        """
        tracking = self._precondition_tracking or self._tracking()
        if tracking.instance is not None:
            return tracking.instance
        instance = super().get_object()  # evaluated in check_object_permissions() already
        if (tracking.method or self._method()) in IGNORED_METHODS:
            return instance  # OPTIONS metadata probes (rule 14)
        if not isinstance(instance, VersionedModel):
            raise ImproperlyConfigured(
                f"{type(self).__name__} uses PreconditionMixin, but get_object() returned a "
                f"{type(instance).__name__}, which is not a VersionedModel. Inherit the model "
                "from django_preconditions.models.VersionedModel."
            )
        if tracking.snapshot is None:
            self._check_preconditions(instance)
        tracking.instance = instance
        return instance

    def check_object_permissions(self, request: Request, obj: Any) -> None:
        """DRF's object permissions, then the preconditions (rules 12, 13).

        Evaluating here too protects views that override ``get_object()`` without calling
        ``super()`` — DRF's documented pattern still ends in this call.
        """
        super().check_object_permissions(request, obj)
        tracking = self._precondition_tracking or self._tracking()
        if (
            tracking.snapshot is None
            and tracking.dispatching
            and request is getattr(self, "request", None)
            # Not DRF's clone_request() copy with another method (OPTIONS metadata and the
            # browsable API probe permissions that way): the real method is the tracked one.
            and request.method == tracking.method
            and tracking.method not in IGNORED_METHODS
            and isinstance(obj, VersionedModel)
            and isinstance(obj, self._target_model())
        ):
            self._check_preconditions(obj)

    def _target_model(self) -> type[models.Model]:
        queryset = getattr(self, "queryset", None)
        if isinstance(queryset, models.QuerySet):
            return queryset.model
        return self.get_queryset().model

    def _check_preconditions(self, instance: VersionedModel) -> None:
        """Evaluate against ``instance`` (raise to refuse), and register the expected
        version for an unsafe method."""
        tracking = self._precondition_tracking or self._tracking()
        load_version_with_row(instance)  # a get_object() of the view's own that deferred it
        snapshot = Snapshot.of_instance(instance)
        decision = self._decide(snapshot, form=True)
        tracking.snapshot, tracking.decision = snapshot, decision
        if not decision.proceeds:
            refusal = self._refusal(decision, snapshot)
            if refusal is not None:
                raise refusal
        if tracking.method not in SAFE_METHODS and tracking.dispatching:
            # expect_version() without its generator: this runs on every protected write.
            # Popped when DRF's dispatch returns (_dispatch_once).
            tracking.expectation = push_instance_expectation(instance, instance.version_token)
        self.request.preconditions = PreconditionContext(  # type: ignore[attr-defined]
            instance, self._policy(), decision, tracking.expectation
        )

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        # Remembered to find the created instance (201) without another query, whatever
        # perform_create() the project wrote. A list page gets its collection ETag here,
        # before any item is serialized, so a matching If-None-Match costs no rendering.
        serializer = super().get_serializer(*args, **kwargs)
        tracking = self._precondition_tracking or self._tracking()
        tracking.serializers.append(serializer)
        if not tracking.dispatching or self._method() not in SAFE_METHODS:
            return serializer
        if isinstance(serializer, ListSerializer):
            if (
                self.precondition_list_etag
                and tracking.list_etag is None
                and not tracking.lists_seen
                and not tracking.other_objects
            ):
                self._decide_list(serializer)
            else:
                # A second list in one response (a "pinned" section, say), or a list beside
                # another object: the ETag of the first would not change with them, so none
                # is sent (no 304 on a stale body).
                tracking.list_etag = None
            tracking.lists_seen += 1
        elif serializer.instance is not None and (
            tracking.lists_seen or not _is_loaded_row(serializer.instance, tracking.snapshot)
        ):
            tracking.other_objects = True
            tracking.list_etag = None
        return serializer

    def paginate_queryset(self, queryset: Any) -> Any:
        """A conditional GET of a list is first decided from a token-only query of the page
        (primary keys and version tokens; the filters, the ordering and the paginator's slice
        kept): a matching ``If-None-Match`` is answered 304 without loading or instantiating
        the rows (rule 28). Otherwise the page is loaded as DRF loads it, and its ETag is
        computed from the rows served."""
        tracking = self._tracking()
        if (
            _IF_NONE_MATCH_KEY in (tracking.http_request or self.request).META
            and self.precondition_list_etag
            and tracking.list_etag is None
            and self._method() in SAFE_METHODS
        ):
            etag = token_page_etag(self, queryset, super().paginate_queryset)
            if etag is not None:
                self._decide_list_etag(etag, keep=False)
        page = super().paginate_queryset(queryset)
        tracking.paginated = page is not None
        return page

    def get_renderers(self) -> list[BaseRenderer]:
        renderers = super().get_renderers()
        if not self.precondition_form_field:
            return renderers
        return [
            PreconditionBrowsableAPIRenderer()
            if type(renderer) is BrowsableAPIRenderer
            else renderer
            for renderer in renderers
        ]

    # -- create by PUT (rules 26, 31) --

    def create_by_put(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Create the object named by the URL (``If-None-Match: *`` makes it create-only).

        A concurrent create of the same object makes the INSERT fail; that is answered 412
        (or 404 when the caller may not see the object), never 500.
        """
        queryset = self.get_queryset()
        model = queryset.model
        lookup_field = self.lookup_field
        raw_value = self.kwargs[self.lookup_url_kwarg or lookup_field]
        alias = router.db_for_write(model)
        value = creatable_key(model, lookup_field, raw_value, alias)
        if value is None:
            # The column cannot hold it, it would exhaust the key generator, or the lookup
            # is a path: this URL can name no object, so no precondition could create one.
            raise exceptions.NotFound()
        absent = Snapshot.absent()
        refusal = self._refusal(self._decide(absent, form=True), absent)
        if refusal is not None:
            raise refusal
        # The key comes from the URL (rules 26, 31): validated with the body, so that a
        # required key field and its uniqueness see the URL's value, not the body's.
        key_field = model._meta.pk.name if lookup_field == "pk" else lookup_field
        serializer = self.get_serializer(data=_with_value(request.data, key_field, raw_value))
        serializer.is_valid(raise_exception=True)
        serializer.validated_data[lookup_field] = value
        perform_create = getattr(self, "perform_create", None)
        try:
            # Whatever perform_create() does, the save of this row is an INSERT (rule 50).
            with (
                transaction.atomic(using=alias),
                expect_creation(model, value, field=lookup_field, using=alias),
            ):
                if perform_create is not None:
                    perform_create(serializer)
                else:
                    serializer.save()
                if is_primary_key(model, lookup_field):
                    advance_sequence(model, value, alias)
        except (IntegrityError, VersionConflict):
            self._refuse_collision(model, lookup_field, value)
            raise
        if isinstance(serializer.instance, VersionedModel):
            self._tracking().created = serializer.instance
        location = request.build_absolute_uri(request.path)
        return Response(
            serializer.data, status=status.HTTP_201_CREATED, headers={LOCATION: location}
        )

    def _refuse_collision(self, model: type[models.Model], lookup_field: str, value: Any) -> None:
        """After a create-by-PUT lost to another request's create: 412 with that row's
        version to a caller who may see it (its queryset and object permissions, as a GET of
        it); 404 to one who may not (rule 13). Returns when no such row exists."""
        visible = self.filter_queryset(self.get_queryset()).filter(**{lookup_field: value})
        existing = visible.first()
        if isinstance(existing, VersionedModel):
            snapshot = Snapshot.of_instance(existing)
            # Set first, so that our check_object_permissions() does not evaluate it again.
            self._tracking().snapshot = snapshot
            try:
                self.check_object_permissions(self.request, existing)
            except (exceptions.PermissionDenied, exceptions.NotAuthenticated):
                raise exceptions.NotFound() from None
            refusal = self._refusal(self._decide(snapshot, form=True), snapshot)
            if refusal is not None:
                raise refusal from None
        if model._base_manager.filter(**{lookup_field: value}).exists():
            raise exceptions.NotFound() from None  # exists, but not for this caller

    # -- errors --

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, _NotModified):
            return _not_modified_response(exc.snapshot)
        conflict = conflict_from(exc)
        # A database conflict error counts only while a protected write is under way. It is
        # answered by dispatch(), once the request's transaction is rolled back.
        tracking = self._tracking()
        if conflict is not None and (conflict is exc or tracking.expectation is not None):
            if tracking.dispatching:
                raise _ConflictEscape(conflict) from exc
            exc = self._answer_conflict(conflict)
        response = super().handle_exception(exc)
        if isinstance(exc, PreconditionAPIException) and exc.error is not None:
            response = self._format_error(exc, exc.error, response)
            if exc.decision is not None:
                announce(self.request, exc.decision, response, view=type(self))
        return response

    def _answer_conflict(self, conflict: VersionConflict) -> PreconditionAPIException:
        """412 with the current version read now (outside the rolled-back transaction, on
        the write database), or 503 when the row did not change (rules 44, 47)."""
        tracking = self._tracking()
        decision = tracking.decision or Decision(
            Outcome.PROCEED, Reason.NOT_EVALUATED, self._method()
        )
        policy = self._policy()
        others = tracking.other_writes
        after = conflict_aftermath(
            conflict,
            tracking.snapshot,
            tracking.expectation,
            rolled_back=others.rolled_back(conflict.using) if others is not None else False,
        )
        error, failed = self._enforcer().conflict_error(
            self.request,
            policy,
            decision,
            conflict,
            tracking.snapshot,
            method=self._method(),
            aftermath=after,
        )
        if failed is None:
            answer = DatabaseConflict(error=error, policy=policy)
            answer.retryable = after is Aftermath.ROLLED_BACK
            return answer
        return PreconditionFailed(error=error, decision=failed, policy=policy)

    def _format_error(
        self, exc: PreconditionAPIException, error: PreconditionError, response: Response
    ) -> Response:
        """Write the body in the configured format (rule 34) — unless the project's
        ``EXCEPTION_HANDLER`` already shaped it — and add the error's headers."""
        policy = exc.policy or self._policy()
        data = getattr(response, "data", None)
        untouched = isinstance(data, dict) and len(data) == 1 and data.get("detail") is exc.detail
        if untouched:
            registered = built_in(policy.error_format)
            renderer = getattr(self.request, "accepted_renderer", None)
            if registered is None or (
                renderer is not None
                and not isinstance(renderer, (JSONRenderer, BrowsableAPIRenderer))
            ):
                # The project's own format; or a renderer of another media type (CSV, YAML,
                # plain text), through which the body would not be JSON (rule 38). The
                # browsable API keeps its page, which shows the error.
                rendered = render(self.request, error, policy)
                rendered.exception = True  # type: ignore[attr-defined]
                return rendered  # type: ignore[return-value]  # DRF accepts any HttpResponse
            response.data = registered.body(error)
            if isinstance(renderer, JSONRenderer):
                # The format's media type and charset, as the other adapters send them.
                response.content_type = registered.header
        for name, value in error.headers.items():
            if not response.has_header(name):
                response.headers[name] = value
        return response

    # -- after the handler --

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        if 200 <= response.status_code < 300 and not isinstance(response, _NotModifiedResponse):
            response = self._add_validators(request, response)
        return super().finalize_response(request, response, *args, **kwargs)

    def _add_validators(self, request: Request, response: Response) -> Response:
        """ETag/Last-Modified on success (rules 39-41) and Location after a create (40)."""
        tracking = self._precondition_tracking or self._tracking()
        created = tracking.created
        if created is None and tracking.snapshot is None and response.status_code == 201:
            created = self._created_instance()  # POST to the collection
        if created is not None:
            set_validators(response, created, force=True)
            if not response.has_header(LOCATION):
                location = self.get_created_location(created)
                if location:
                    response.headers[LOCATION] = location
            return response
        if tracking.snapshot is not None:
            if (tracking.lists_seen or tracking.other_objects) and (
                tracking.method or self._method()
            ) in SAFE_METHODS:
                # A detail action serving other rows (a sub-list, a related object): the
                # loaded row's validators would name the wrong representation (rule 28).
                return self._finish_list(response)
            # The Django request: its method is read without DRF's Request.__getattr__.
            finish(
                tracking.http_request or request, response, tracking.snapshot, tracking.expectation
            )
            return response
        if (tracking.method or self._method()) in SAFE_METHODS and self.precondition_list_etag:
            return self._finish_list(response)
        return response

    def _created_instance(self) -> VersionedModel | None:
        for serializer in reversed(self._tracking().serializers):
            instance = getattr(serializer, "instance", None)
            if isinstance(instance, VersionedModel) and instance.pk is not None:
                return instance
        return None

    def get_created_location(self, instance: VersionedModel) -> str | None:
        """The ``Location`` of a created object: the viewset's detail route, else
        ``precondition_detail_url_name``, else ``instance.get_absolute_url()``."""
        lookup_field = self.lookup_field
        lookup_kwarg = self.lookup_url_kwarg or lookup_field
        value = _lookup_value(instance, lookup_field)
        if value is not _UNKNOWN:
            kwargs = {key: arg for key, arg in self.kwargs.items() if key != "format"}
            kwargs[lookup_kwarg] = value
            reverse_action = getattr(self, "reverse_action", None)
            if reverse_action is not None and getattr(self, "basename", None):
                with contextlib.suppress(NoReverseMatch):
                    return str(reverse_action("detail", kwargs=kwargs))
            if self.precondition_detail_url_name:
                return str(
                    reverse(self.precondition_detail_url_name, kwargs=kwargs, request=self.request)
                )
        get_absolute_url = getattr(instance, "get_absolute_url", None)
        if callable(get_absolute_url):
            return self.request.build_absolute_uri(str(get_absolute_url()))
        return None

    def _decide_list(self, serializer: ListSerializer[Any]) -> None:
        """Collection ``ETag`` of the page about to be serialized; 304 (or 412) at once."""
        items = serializer.instance
        if isinstance(items, Iterable) and not isinstance(items, (models.QuerySet, list, tuple)):
            # A one-shot iterator (a generator, filter(), map()) would be used up by the
            # digest and then serialize as nothing: read once, for both.
            items = serializer.instance = list(items)
        etag = collection_etag(self, items, paginated=self._tracking().paginated)
        if etag is not None:
            self._decide_list_etag(etag)

    def _decide_list_etag(self, etag: str, *, keep: bool = True) -> None:
        """304 (or 412) at once; ``keep``: the ETag of the page that will be served."""
        tag = EntityTag(etag, weak=True)
        tracking = self._tracking()
        if keep:
            tracking.list_etag = tag
        if not conditional_headers(tracking.http_request or self.request):
            return  # nothing is required of a list: without a conditional header it proceeds
        snapshot = Snapshot(state=ResourceState(exists=True, etag=tag), etag=str(tag))
        refusal = self._refusal(self._decide(snapshot, required=False), snapshot)
        if refusal is not None:
            raise refusal

    def _finish_list(self, response: Response) -> Response:
        tag = self._tracking().list_etag
        if tag is not None:
            response.headers[ETAG] = str(tag)
        return response

    # -- browsable API --

    def precondition_form_etag(self, response: Response) -> str | None:
        """The ETag the browsable API's forms carry: the one this page shows, or the one
        the request sent when its body failed validation. None after 412/428 — re-read."""
        tracking = self._tracking()
        if tracking.created is not None and 200 <= response.status_code < 300:
            return tracking.created.etag
        if tracking.snapshot is None or tracking.snapshot.etag is None:
            return None
        if 200 <= response.status_code < 300:
            if self._method() == "DELETE":
                return None
            etag = response.get(ETAG)
            return str(etag) if etag else None
        decision = tracking.decision
        if response.status_code == status.HTTP_400_BAD_REQUEST and decision and decision.proceeds:
            return tracking.form_token or tracking.snapshot.etag
        return None
