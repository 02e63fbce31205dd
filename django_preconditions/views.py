"""Class-based views: :class:`PreconditionRequiredMixin` for Django's ``View``,
``DetailView``, ``UpdateView``, ``DeleteView`` and friends.

Put it to the right of authentication/permission mixins (``LoginRequiredMixin``,
``PermissionRequiredMixin``) so 401/403 come first (rule 12), and to the left of the view
class::

    class DocumentUpdate(LoginRequiredMixin, PreconditionRequiredMixin, UpdateView):
        model = Document
        fields = ["title", "body"]
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any, ClassVar

from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured, ObjectDoesNotExist
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.views.generic.base import TemplateResponseMixin, View
from django.views.generic.detail import SingleObjectMixin

from ._compat import on_write_database, routers_configured, write_alias
from .conditions import IGNORED_METHODS, SAFE_METHODS
from .enforcement import Enforcer, Guard, Snapshot
from .models import VersionedModel, load_version_with_row
from .policy import Policy, attribute_overrides, mixin_comes_first, view_handles
from .transactions import own_request_transaction, request_transaction, run_with_retries

__all__ = ["PreconditionRequiredMixin"]


_enforcers: dict[tuple[Any, ...], Enforcer] = {}


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, set)):
        return tuple(value)
    hash(value)
    return value


def _finds_object_by_url(view_class: type[Any]) -> bool:
    """Whether ``view_class`` finds its object with Django's own ``SingleObjectMixin``
    lookup (no ``get_object()`` or ``get_precondition_object()`` of its own besides the
    mixin's); worked out once per class."""
    found = _FINDS_OBJECT_BY_URL.get(view_class)
    if found is None:
        found = False
        for klass in view_class.__mro__:
            if klass is PreconditionRequiredMixin:
                continue
            if "get_precondition_object" in vars(klass):
                break
            if "get_object" in vars(klass):
                found = klass is SingleObjectMixin
                break
        _FINDS_OBJECT_BY_URL[view_class] = found
    return found


_FINDS_OBJECT_BY_URL: dict[type[Any], bool] = {}


def _takes_queryset(view_class: type) -> bool:
    """Whether the view's ``get_object()`` accepts Django's ``queryset`` argument (once per
    class)."""
    known = _QUERYSET_ARGUMENT.get(view_class)
    if known is None:
        try:
            signature = inspect.signature(getattr(view_class, "get_object"))  # noqa: B009
        except (TypeError, ValueError):
            known = True
        else:
            known = any(
                parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.VAR_POSITIONAL)
                or parameter.name == "queryset"
                or parameter.kind is parameter.VAR_KEYWORD
                for parameter in list(signature.parameters.values())[1:]  # after self
            )
        _QUERYSET_ARGUMENT[view_class] = known
    return known


_QUERYSET_ARGUMENT: dict[type, bool] = {}


def _version_from_write_database(instance: VersionedModel) -> VersionedModel:
    """For a write, the version the request is checked against comes from the database the
    row is written to, never a replica (rule 54): a ``get_object()`` override that ignores
    the queryset it is given may read elsewhere; the row is then read again there — all of
    it, not only its version: a lagging copy's fields saved with the current version would
    revert a newer write (rule 44)."""
    alias = write_alias(type(instance), instance=instance)
    if instance._state.db != alias:
        try:
            instance.refresh_from_db(using=alias)
        except ObjectDoesNotExist as missing:
            raise Http404 from missing
    return instance


class PreconditionRequiredMixin:
    """Require and evaluate preconditions around a class-based view's handler.

    The object comes from :meth:`get_precondition_object` (by default the view's
    ``get_object()``, which is then cached so the handler does not query again). Class
    attributes override the ``PRECONDITIONS`` settings for this view; ``None`` keeps them.
    """

    precondition_methods: ClassVar[Iterable[str] | None] = None
    precondition_required_headers: ClassVar[Iterable[str] | None] = None
    precondition_allow_wildcard: ClassVar[bool | None] = None
    precondition_weak_if_match: ClassVar[bool | None] = None
    precondition_error_format: ClassVar[Any] = None
    precondition_include_current_etag: ClassVar[bool | None] = None
    precondition_mode: ClassVar[str | None] = None
    #: False for a class that lists the mixin after Django's ``View`` (``UpdateView``),
    #: whose ``dispatch()`` then runs instead of the mixin's (check preconditions.E022).
    preconditions_protected: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.preconditions_protected = mixin_comes_first(cls, PreconditionRequiredMixin, View)

    request: HttpRequest
    http_method_names: list[str]

    def get_precondition_object(self) -> VersionedModel:
        """The object the request targets: the view's own ``get_object()`` (whatever class
        defines it: an override that checks the caller's access raises its 404/403 before any
        412/428 — rules 12, 13). Raise ``Http404`` when it does not exist."""
        default = getattr(super(), "get_object", None)
        if default is None:
            raise ImproperlyConfigured(
                f"{type(self).__name__} uses PreconditionRequiredMixin without get_object(). "
                "Combine it with SingleObjectMixin (DetailView, UpdateView, DeleteView) or "
                "override get_precondition_object()."
            )
        queryset = self._precondition_queryset()
        if self.__dict__.get("_precondition_loading"):
            # The view's get_object() builds on this method: the default lookup.
            instance = default(queryset)
        else:
            self.__dict__.pop("_precondition_object", None)  # loaded now, not a cached one
            self._precondition_loading = True
            try:
                if queryset is not None and _takes_queryset(type(self)):
                    instance = self.get_object(queryset)
                else:  # an override without a queryset argument (a common idiom)
                    instance = self.get_object()
            finally:
                self._precondition_loading = False
        if not isinstance(instance, VersionedModel):
            raise ImproperlyConfigured(
                f"{type(self).__name__}.get_precondition_object() returned a "
                f"{type(instance).__name__}, which is not a VersionedModel."
            )
        if queryset is not None:
            instance = _version_from_write_database(instance)
        load_version_with_row(instance)  # a queryset that deferred it (rules 39, 44)
        return instance

    def _precondition_queryset(self) -> models.QuerySet[Any] | None:
        """For a write, the view's queryset on the database writes go to: the version the
        write is checked against is read there, never on a replica (rule 54)."""
        get_queryset = getattr(self, "get_queryset", None)
        if self.request.method in SAFE_METHODS or get_queryset is None or not routers_configured():
            return None
        return on_write_database(get_queryset())

    def get_object(self, queryset: models.QuerySet[Any] | None = None) -> Any:
        cached = getattr(self, "_precondition_object", None)
        if queryset is None and cached is not None:
            return cached
        return super().get_object(queryset)  # type: ignore[misc]

    def _precondition_enforcer(self) -> Enforcer:
        """The view's enforcer: one per class and set of ``precondition_*`` values
        (``as_view()`` may set them per view), so that its policy is resolved once, not on
        every request."""
        overrides = attribute_overrides(self)
        try:
            key = (type(self), *((name, _hashable(value)) for name, value in overrides.items()))
            enforcer = _enforcers.get(key)
        except TypeError:  # an unhashable value: a fresh enforcer every time
            return Enforcer(type(self), **overrides)
        if enforcer is None:
            enforcer = _enforcers[key] = Enforcer(type(self), **overrides)
        return enforcer

    def _not_found(
        self, request: HttpRequest, enforcer: Enforcer, policy: Policy, missing: Http404
    ) -> HttpResponse:
        """Template views (DetailView, UpdateView, ...) keep Django's own 404 page; other
        views (JSON APIs) get the 404 in the configured error format (rule 38)."""
        if isinstance(self, TemplateResponseMixin):
            raise missing
        return enforcer.not_found(request, policy)

    def _load_and_begin(
        self, request: HttpRequest, enforcer: Enforcer
    ) -> Guard | HttpResponse | None:
        """The guard of the loaded object, the 404 that replaces the view, or ``None`` when
        the URL names no object (a ``CreateView``): no version to check, the view runs as it
        would without the mixin."""
        policy = enforcer.policy(request)
        if self._names_no_object():
            request.preconditions = enforcer.context(request, None, policy)  # type: ignore[attr-defined]
            return None
        try:
            instance = self.get_precondition_object()
        except Http404 as missing:
            return self._not_found(request, enforcer, policy, missing)
        return self._begin(request, enforcer, policy, instance)

    def _begin(
        self, request: HttpRequest, enforcer: Enforcer, policy: Policy, instance: VersionedModel
    ) -> Guard:
        """Cache the object for the handler's get_object() and decide (rules 11, 15-28)."""
        self._precondition_object = instance
        return enforcer.begin(request, Snapshot.of_instance(instance), policy)

    def _handles(self, request: HttpRequest) -> bool:
        method = request.method or ""
        return method not in IGNORED_METHODS and view_handles(self, method)

    def _names_no_object(self) -> bool:
        """Whether Django's own lookup would find no object in the URL: a ``CreateView`` (it
        inherits ``get_object()``) routed without a pk or slug. There is no version to check,
        and the view runs as it would without the mixin."""
        if not isinstance(self, SingleObjectMixin) or not _finds_object_by_url(type(self)):
            return False
        kwargs: dict[str, Any] = getattr(self, "kwargs", {})
        return kwargs.get(self.pk_url_kwarg) is None and kwargs.get(self.slug_url_kwarg) is None

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        """Django's ``as_view()``; the view runs in the mixin's own request transaction
        under ``ATOMIC_REQUESTS`` (see :mod:`django_preconditions.transactions`)."""
        return own_request_transaction(super().as_view(**initkwargs))  # type: ignore[misc]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        parent = super().dispatch  # type: ignore[misc]
        enforcer = self._precondition_enforcer()
        is_async = getattr(type(self), "view_is_async", False)
        if not self._handles(request):
            # 405 and OPTIONS as usual (rules 12, 14); the object is not loaded for them.
            request.preconditions = enforcer.context(request, None, enforcer.policy(request))  # type: ignore[attr-defined]
            if is_async:
                return parent(request, *args, **kwargs)
            # In ATOMIC_REQUESTS' transaction, which as_view() took over from Django's handler
            # (own_request_transaction), as the view runs without the mixin.
            with request_transaction(type(self).dispatch):
                return parent(request, *args, **kwargs)
        if is_async:
            return self._adispatch(parent, request, *args, **kwargs)
        enforcer.transaction_view = type(self).dispatch
        return run_with_retries(
            request, lambda: self._dispatch_once(enforcer, parent, request, *args, **kwargs)
        )

    def _dispatch_once(
        self, enforcer: Enforcer, parent: Any, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        self.__dict__.pop("_precondition_object", None)  # a retry loads the object again
        return enforcer.guarded(
            request,
            lambda: self._load_and_begin(request, enforcer),
            lambda guard: parent(request, *args, **kwargs),
        )

    async def _adispatch(
        self, parent: Any, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        enforcer = self._precondition_enforcer()
        # In a worker thread, as a sync view: loading the row, a decision that reads the lazy
        # request.user (report mode), a refusal whose signal receivers use the ORM.
        started = await sync_to_async(self._load_and_begin)(request, enforcer)
        if started is None:  # the URL names no object (see _load_and_begin())
            return await parent(request, *args, **kwargs)  # type: ignore[no-any-return]
        if isinstance(started, HttpResponseBase):
            return started
        guard = started
        if guard.refused is not None:
            return guard.refused

        async def call() -> HttpResponse:
            return await parent(request, *args, **kwargs)  # type: ignore[no-any-return]

        return await guard.arun(call)
