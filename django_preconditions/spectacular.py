"""drf-spectacular: document the preconditions of every :class:`PreconditionMixin` view.

The only module that imports drf-spectacular; the app's ``AppConfig.ready()`` imports it
when drf-spectacular is installed, so adding the mixin is enough (CONFORMANCE rule 49). An ``OpenApiViewExtension`` matching the mixin's subclasses layers
:class:`PreconditionSchemaMixin` over the view's schema class — and over the schema class of
any action decorated with ``@extend_schema`` — to add the conditional request headers
(required where the policy requires them), the 304/400/412/428 responses with the error
schema of the configured format, and the ``ETag``/``Last-Modified`` response headers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import get_class
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.mixins import CreateModelMixin, ListModelMixin

from .conditions import (
    IF_MATCH,
    IF_MODIFIED_SINCE,
    IF_NONE_MATCH,
    IF_UNMODIFIED_SINCE,
    undated_headers,
)
from .formats import JSON_CONTENT_TYPE, built_in
from .headers import ETAG, LAST_MODIFIED, LINK, LOCATION
from .models import keeps_modified
from .policy import Policy
from .rest_framework import PreconditionMixin

if TYPE_CHECKING:
    from rest_framework.views import APIView

    _SchemaBase = AutoSchema
else:
    _SchemaBase = object

__all__ = [
    "PreconditionDRFErrorSerializer",
    "PreconditionGuidanceSerializer",
    "PreconditionProblemSerializer",
    "PreconditionSchemaMixin",
    "PreconditionViewExtension",
]

_HEADER: Final = OpenApiParameter.HEADER


# --- Error bodies, one serializer per built-in format (rule 34) ---------------------------


class PreconditionProblemSerializer(serializers.Serializer[Any]):
    """RFC 9457 problem details (``ERROR_FORMAT = "problem"``)."""

    type = serializers.CharField(help_text="Problem type URI, distinct for 400, 412 and 428.")
    title = serializers.CharField()
    status = serializers.IntegerField(help_text="The HTTP status code.")
    detail = serializers.CharField(help_text="What happened and what to do next.")
    instance = serializers.CharField(help_text="The request's path.")
    code = serializers.CharField()
    reason = serializers.CharField()
    header = serializers.CharField(required=False)
    required_headers = serializers.ListField(child=serializers.CharField(), required=False)
    current_etag = serializers.CharField(required=False)
    last_modified = serializers.CharField(required=False)
    example = serializers.CharField(required=False)
    steps = serializers.ListField(child=serializers.CharField(), required=False)
    received = serializers.CharField(required=False)
    expected = serializers.CharField(required=False)
    documentation = serializers.URLField(required=False)


class PreconditionGuidanceSerializer(serializers.Serializer[Any]):
    """The guidance body (``ERROR_FORMAT = "json"``)."""

    error = serializers.CharField()
    message = serializers.CharField()
    required_headers = serializers.ListField(child=serializers.CharField())
    current_etag = serializers.CharField(allow_null=True)
    example = serializers.CharField(allow_null=True)
    steps = serializers.ListField(child=serializers.CharField())
    documentation = serializers.URLField(allow_null=True)


class PreconditionDRFErrorSerializer(serializers.Serializer[Any]):
    """DRF's error shape (``ERROR_FORMAT = "drf"``)."""

    detail = serializers.CharField()
    code = serializers.CharField()


class PreconditionRequiredHeaderSerializer(serializers.Serializer[Any]):
    """One accepted header in the detailed guidance body (``JSON_DETAILED_HEADERS``)."""

    name = serializers.CharField(help_text="The header to send, e.g. If-Match.")
    description = serializers.CharField(help_text="What its value is.")
    example = serializers.CharField(help_text="A header line to send.")
    obtain_from = serializers.URLField(help_text="The URL to GET to read that value.")


class PreconditionDetailedGuidanceSerializer(PreconditionGuidanceSerializer):
    """The guidance body with ``JSON_DETAILED_HEADERS = True``."""

    required_headers = PreconditionRequiredHeaderSerializer(many=True)  # type: ignore[assignment]


class PreconditionNotFoundSerializer(serializers.Serializer[Any]):
    """DRF's 404 body (``get_object()`` raises ``Http404`` before any precondition)."""

    detail = serializers.CharField()


def _error_body(policy: Policy) -> tuple[str, Any]:
    """(media type, schema) of the error responses in the view's format."""
    registered = built_in(policy.error_format)
    if registered is None:
        return JSON_CONTENT_TYPE, OpenApiTypes.OBJECT  # a project-defined callable
    schema = registered.schema
    if registered.detailed(policy.json_detailed_headers):
        schema = registered.detailed_schema or schema
    return registered.content_type, globals()[schema]


_DESCRIPTIONS: Final = {
    304: "Not Modified: the representation you hold (If-None-Match / If-Modified-Since) is "
    "still current; the body is empty.",
    400: "A conditional header (If-Match, or If-None-Match on a write) could not be parsed.",
    404: "Not Found: no object has this id (or you may not see it). Answered before any "
    "precondition is evaluated.",
    412: "Precondition Failed: the resource changed since you read it. GET it again, re-apply "
    "your change and retry with the new ETag. The response carries the current ETag.",
    428: "Precondition Required: send If-Match with the ETag from your last GET, or "
    "If-Unmodified-Since with its Last-Modified.",
}
_BODY_400: Final = (
    " A request body that fails validation also gets 400, with Django REST framework's "
    "field → messages object (application/json)."
)

# Entity-tag syntax (RFC 9110 §8.8.3) as the server parses it: a comma-separated list with at
# least one quoted tag, optional whitespace and empty list elements allowed; "*" alone only
# where it is accepted. ECMA-262 regular expressions, anchored. Tags are documented with the
# visible ASCII characters (%x21 / %x23-7E); obs-text, which the server also accepts, is left
# out so that generated examples stay portable header values.
_ETAG: Final = r'(?:W/)?"[!#-~]*"'
ENTITY_TAG_LIST_PATTERN: Final = rf"^[ \t,]*{_ETAG}(?:[ \t]*,[ \t,]*{_ETAG})*[ \t,]*$"
ENTITY_TAG_LIST_OR_WILDCARD_PATTERN: Final = (
    rf"^(?:[ \t]*\*[ \t]*|[ \t,]*{_ETAG}(?:[ \t]*,[ \t,]*{_ETAG})*[ \t,]*)$"
)
# On GET and HEAD a malformed If-None-Match is ignored (the full response is sent, as Django
# does): any string is acceptable there.
_IGNORED_ON_READ: Final = (
    ' Entity-tags in double quotes, e.g. "abc", W/"abc", or *; a value that cannot be parsed '
    "is ignored on reads."
)
_HTTP_DATE_HELP: Final = (
    " An HTTP-date such as Sun, 06 Nov 1994 08:49:37 GMT; a value that is not a valid "
    "HTTP-date is ignored, as RFC 9110 requires."
)


def _entity_tags(wildcard: bool) -> dict[str, Any]:
    pattern = ENTITY_TAG_LIST_OR_WILDCARD_PATTERN if wildcard else ENTITY_TAG_LIST_PATTERN
    return {"type": "string", "pattern": pattern}


def _response_headers(
    codes: list[int], *, weak: bool = False, dated: bool = True
) -> list[OpenApiParameter]:
    if not codes:
        return []
    etag = (
        "Weak entity-tag of this page of the collection; changes when any item on it changes."
        if weak
        else "Strong entity-tag of the resource's current version. Send it back in If-Match "
        "to change the resource, or in If-None-Match to revalidate."
    )
    headers = [OpenApiParameter(ETAG, OpenApiTypes.STR, _HEADER, description=etag, response=codes)]
    if not weak and dated:  # a model versioned by its token alone serves no Last-Modified
        headers.append(
            OpenApiParameter(
                LAST_MODIFIED,
                OpenApiTypes.STR,
                _HEADER,
                description="When the resource last changed (HTTP-date). Usable in "
                "If-Unmodified-Since / If-Modified-Since.",
                response=codes,
            )
        )
    return headers


def _location(codes: list[int]) -> OpenApiParameter:
    return OpenApiParameter(
        LOCATION,
        OpenApiTypes.URI,
        _HEADER,
        description="URL of the created resource.",
        response=codes,
    )


def _help_link(codes: list[int]) -> OpenApiParameter:
    return OpenApiParameter(
        LINK,
        OpenApiTypes.STR,
        _HEADER,
        description='<DOCUMENTATION_URL>; rel="help" when the project sets DOCUMENTATION_URL.',
        response=codes,
    )


def _errors(body: tuple[str, Any], *codes: int, with_body: bool = False) -> dict[Any, Any]:
    """The error responses of an operation, in the view's format (``body``: media type and
    schema); 404 in DRF's shape; 400 also as DRF's validation errors when it has a body."""
    media_type, schema = body
    responses: dict[Any, Any] = {}
    for code in codes:
        description = _DESCRIPTIONS[code] + (_BODY_400 if with_body and code == 400 else "")
        if code == 404:
            responses[code, JSON_CONTENT_TYPE] = OpenApiResponse(
                PreconditionNotFoundSerializer, description=description
            )
        elif code == 400 and with_body and media_type == JSON_CONTENT_TYPE:
            # One media type for two shapes: the format's, and DRF's validation errors.
            responses[code, media_type] = OpenApiResponse(
                OpenApiTypes.OBJECT, description=description
            )
        else:
            responses[code, media_type] = OpenApiResponse(schema, description=description)
            if code == 400 and with_body:
                responses[code, JSON_CONTENT_TYPE] = OpenApiResponse(
                    OpenApiTypes.OBJECT, description=description
                )
    return responses


def _detail_read_parameters(dated: bool) -> list[OpenApiParameter]:
    """``dated``: the model stores ``last_modified`` (else no If-Modified-Since to offer)."""
    since = OpenApiParameter(
        IF_MODIFIED_SINCE,
        OpenApiTypes.STR,
        _HEADER,
        description="304 Not Modified when the resource has not changed since "
        "(ignored when If-None-Match is sent)." + _HTTP_DATE_HELP,
    )
    return [
        OpenApiParameter(
            IF_NONE_MATCH,
            OpenApiTypes.STR,
            _HEADER,
            description="ETags you hold; 304 Not Modified when one is current." + _IGNORED_ON_READ,
        ),
        *([since] if dated else []),
        OpenApiParameter(
            IF_MATCH,
            _entity_tags(wildcard=True),
            _HEADER,
            description="ETags; 412 unless one is current.",
        ),
        *_response_headers([200, 304, 412], dated=dated),
        _help_link([412]),
    ]


def _list_read_parameters() -> list[OpenApiParameter]:
    return [
        OpenApiParameter(
            IF_NONE_MATCH,
            OpenApiTypes.STR,
            _HEADER,
            description="The page's ETag you hold; 304 Not Modified when it is current."
            + _IGNORED_ON_READ,
        ),
        *_response_headers([200, 304], weak=True),
    ]


def _collection_post_parameters(dated: bool) -> list[OpenApiParameter]:
    return [
        OpenApiParameter(
            IF_NONE_MATCH,
            _entity_tags(wildcard=True),
            _HEADER,
            description="Evaluated against the collection, which always exists: "
            '"*" gets 412 Precondition Failed (to create under an id only if it is '
            "free, use PUT on that id with If-None-Match: * where the API allows it); "
            "entity-tags never match, so the create goes ahead. A malformed value gets "
            "400.",
        ),
        *_response_headers([201], dated=dated),
        _location([201]),
        _help_link([412]),
    ]


def _keeps_modified(view: Any) -> bool:
    """Whether the view's model stores ``last_modified`` (``True`` when it cannot be told)."""
    queryset = getattr(view, "queryset", None)
    model = getattr(queryset, "model", None)
    if model is None:
        try:
            model = view.get_queryset().model
        except Exception:  # a queryset that needs a real request: assume the default
            return True
    return keeps_modified(model)


def _write_requirement(policy: Policy, needed: bool, dated: bool = True) -> str:
    accepted = policy.required_headers if dated else undated_headers(policy.required_headers)
    if needed and len(accepted) > 1:
        alternatives = " or ".join(accepted)
        return f" One of {alternatives} is required: without any, 428 Precondition Required."
    return " Required: without it, 428 Precondition Required." if needed else ""


def _write_parameters(
    method: str, policy: Policy, *, protected: bool, creates: bool, dated: bool = True
) -> list[OpenApiParameter]:
    """``dated``: the model stores ``last_modified`` (a token-only model has no date to
    compare, so If-Unmodified-Since is not offered, and no Last-Modified is served)."""
    requirement = _write_requirement(policy, protected and not creates, dated)
    wildcard = (
        " * (any current version) is accepted."
        if policy.allow_wildcard
        else " * is not accepted here (428): it does not prove which version you edited."
    )
    parameters = [
        OpenApiParameter(
            IF_MATCH,
            _entity_tags(wildcard=policy.allow_wildcard),
            _HEADER,
            description="The ETag from your last GET: the change applies only if the "
            "resource is still at that version, else 412." + wildcard + requirement,
        ),
    ]
    if dated:
        parameters.append(
            OpenApiParameter(
                IF_UNMODIFIED_SINCE,
                OpenApiTypes.STR,
                _HEADER,
                description="The Last-Modified from your last GET: the change applies only "
                "if the resource has not changed since, else 412. Ignored when If-Match is "
                "sent." + requirement + _HTTP_DATE_HELP,
            )
        )
    if creates:
        parameters.append(
            OpenApiParameter(
                IF_NONE_MATCH,
                _entity_tags(wildcard=True),
                _HEADER,
                description='"*" to create the resource only if it does not exist yet '
                "(412 if it does).",
            )
        )
    success = [] if method == "DELETE" else [200, 201] if creates else [200]
    parameters.extend(_response_headers([*success, 412], dated=dated))
    parameters.append(_help_link([412, 428] if protected else [412]))
    if creates:
        parameters.append(_location([201]))
    return parameters


class PreconditionSchemaMixin(_SchemaBase):
    """Adds the precondition parameters, responses and response headers of a
    :class:`PreconditionMixin` view's operation to drf-spectacular's ``AutoSchema``."""

    def _precondition_view(self) -> PreconditionMixin | None:
        view = getattr(self, "view", None)
        if isinstance(view, PreconditionMixin) and type(view).preconditions_protected:
            return view
        return None  # a mixin listed after APIView enforces nothing: nothing to document

    def _precondition_policy(self, view: PreconditionMixin) -> Policy:
        """The view's policy as a request to this operation's route resolves it. The schema's
        mock request is resolved to no URL pattern, so a ``VIEWS`` entry keyed by URL name or
        route would be missed: it is resolved to the route that serves this view (and, for a
        viewset, these actions), as the audit does."""
        request = getattr(view, "request", None)
        http_request = getattr(request, "_request", request)
        if http_request is not None and getattr(http_request, "resolver_match", None) is None:
            endpoint = _endpoint_of(view)
            if endpoint is not None:
                from .audit import _probe_request

                http_request.resolver_match = _probe_request(endpoint).resolver_match
        return view.get_precondition_policy()

    def _precondition_is_detail(self, view: PreconditionMixin) -> bool:
        detail = getattr(view, "detail", None)
        if isinstance(detail, bool):  # viewsets: set by the router
            return detail
        return not isinstance(view, (ListModelMixin, CreateModelMixin))

    def _precondition_rule(self) -> dict[str, Any] | None:
        """The ``x-preconditions`` extension: what an unsafe operation must send."""
        view = self._precondition_view()
        method = self.method
        if view is None or method not in ("PUT", "PATCH", "DELETE", "POST"):
            return None
        if method == "POST" and not self._precondition_is_detail(view):
            return {"required": False, "evaluated-against": "collection"}
        policy = self._precondition_policy(view)
        creates = method == "PUT" and view.precondition_allow_create
        accepted = policy.required_headers
        rule: dict[str, Any] = {
            "required": method in policy.methods and not creates and not policy.report_only,
            "one-of": list(accepted if _keeps_modified(view) else undated_headers(accepted)),
            "wildcard-accepted": policy.allow_wildcard,
            "when-missing": 428,
            "when-stale": 412,
            "when-malformed": 400,
        }
        if creates:
            rule["create-only"] = f"{IF_NONE_MATCH}: *"
        return rule

    def _precondition_spec(self) -> tuple[list[OpenApiParameter], dict[Any, Any]] | None:
        """(parameters, responses) this operation gains; ``None`` when it gains nothing."""
        view = self._precondition_view()
        if view is None:
            return None
        policy = self._precondition_policy(view)
        method = self.method
        detail = self._precondition_is_detail(view)
        body = _error_body(policy)
        dated = _keeps_modified(view)
        not_modified = {304: OpenApiResponse(description=_DESCRIPTIONS[304])}
        if method == "GET" and detail:
            return _detail_read_parameters(dated), {
                **not_modified,
                **_errors(body, 400, 404, 412),
            }
        if method == "GET":
            return (_list_read_parameters(), not_modified) if view.precondition_list_etag else None
        if method == "POST" and not detail:
            return _collection_post_parameters(dated), _errors(body, 400, 412, with_body=True)
        if method not in ("PUT", "PATCH", "DELETE", "POST"):
            return None
        # Report mode lets a request without a precondition through: no 428 is promised.
        protected = method in policy.methods and not policy.report_only
        creates = method == "PUT" and view.precondition_allow_create
        parameters = _write_parameters(
            method, policy, protected=protected, creates=creates, dated=dated
        )
        codes = [400, 404, 412, 428] if protected else [400, 404, 412]
        return parameters, _errors(body, *codes, with_body=method != "DELETE")

    def get_extensions(self) -> dict[str, Any]:
        extensions = dict(super().get_extensions())
        rule = self._precondition_rule()
        if rule is not None:
            extensions.setdefault("x-preconditions", rule)
        return extensions

    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        spec = self._precondition_spec()
        if spec is not None:
            names = {getattr(parameter, "name", None) for parameter in parameters}
            parameters.extend(p for p in spec[0] if p.name not in names)
        return parameters

    def get_response_serializers(self) -> Any:
        base: Any = super().get_response_serializers()
        spec = self._precondition_spec()
        if spec is None or not spec[1]:
            return base
        responses: dict[Any, Any]
        if isinstance(base, dict):
            responses = dict(base)
        elif self.method == "DELETE":
            responses = {204: None}
        elif self._is_create_operation():
            responses = {201: base}
        else:
            responses = {200: base}
            view = self._precondition_view()
            if self.method == "PUT" and view is not None and view.precondition_allow_create:
                responses[201] = base
        taken = {str(key[0] if isinstance(key, tuple) else key) for key in responses}
        for key, value in spec[1].items():
            if str(key[0] if isinstance(key, tuple) else key) not in taken:
                responses[key] = value
        return responses


@functools.cache
def _with_preconditions(schema_class: type[AutoSchema]) -> type[AutoSchema]:
    if issubclass(schema_class, PreconditionSchemaMixin):
        return schema_class
    return type(f"Precondition{schema_class.__name__}", (PreconditionSchemaMixin, schema_class), {})


def _rewrapped(function: Callable[..., Any], schema: Any) -> Callable[..., Any]:
    """``function`` with its ``@extend_schema`` schema class extended by ours."""

    @functools.wraps(function)
    def handler(*args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    handler.kwargs = {  # type: ignore[attr-defined]
        **function.kwargs,  # type: ignore[attr-defined]
        "schema": _with_preconditions(get_class(schema)),
    }
    return handler


class PreconditionViewExtension(OpenApiViewExtension):  # type: ignore[no-untyped-call]
    """Gives every :class:`PreconditionMixin` view the precondition-aware schema class."""

    target_class = "django_preconditions.rest_framework.PreconditionMixin"
    match_subclasses = True

    def view_replacement(self) -> type[APIView]:
        target: type[APIView] = self.target
        view_schema = target.schema
        if view_schema is None or not issubclass(get_class(view_schema), AutoSchema):
            return target  # excluded from the schema, or not drf-spectacular's AutoSchema
        namespace: dict[str, Any] = {
            "schema": _with_preconditions(get_class(view_schema))(),
            # Named as the view it stands for: VIEWS keys by dotted path must find it.
            "__module__": target.__module__,
            "__qualname__": target.__qualname__,
        }
        # Actions decorated with @extend_schema carry their own schema class, which replaces
        # the view's: extend those too.
        for klass in reversed(target.__mro__):
            for name, value in vars(klass).items():
                extra = getattr(value, "kwargs", None)
                if callable(value) and isinstance(extra, dict) and extra.get("schema"):
                    namespace[name] = _rewrapped(value, extra["schema"])
                elif name in namespace and name != "schema":
                    del namespace[name]  # overridden further down without a schema
        return type(target.__name__, (target,), namespace)


def _endpoint_of(view: Any) -> Any:
    """The URL pattern that serves ``view``'s class (for a viewset: with its action map)."""
    from .urls_inventory import iter_endpoints

    actions = getattr(view, "action_map", None)
    order = type(view).__mro__  # the schema's replacement class, or the view's own
    found: list[tuple[int, Any]] = []
    for endpoint in iter_endpoints():
        cls = getattr(endpoint.view, "cls", None)
        if cls not in order:
            continue
        if actions is None or getattr(endpoint.view, "actions", None) == actions:
            found.append((order.index(cls), endpoint))
    return min(found, key=lambda item: item[0])[1] if found else None
