"""OpenAPI with drf-spectacular (CONFORMANCE rule 49): adding the mixin is enough.

The schema is generated for the DRF test URLs with drf-spectacular's ``AutoSchema`` as the
project's ``DEFAULT_SCHEMA_CLASS`` (the one setting drf-spectacular itself asks for), checked
with openapi-spec-validator, and inspected for the headers and responses.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import override_settings
from django.urls import include, path
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from drf_spectacular.utils import extend_schema, extend_schema_view
from openapi_spec_validator import validate
from rest_framework import viewsets
from rest_framework.routers import SimpleRouter

from django_preconditions.rest_framework import PreconditionMixin
from tests import drf_urls
from tests.testapp.models import Document
from tests.testapp.serializers import DocumentSerializer


def decorated_urls() -> list[Any]:
    """A project that already documents some actions with @extend_schema (decorated while
    drf-spectacular's AutoSchema is the DEFAULT_SCHEMA_CLASS, as in such a project)."""

    @extend_schema_view(
        retrieve=extend_schema(summary="Read a document"),
        partial_update=extend_schema(description="Change some fields."),
    )
    class DecoratedDocumentViewSet(PreconditionMixin, viewsets.ModelViewSet):
        queryset = Document.objects.all()
        serializer_class = DocumentSerializer

    router = SimpleRouter()
    router.register("decorated/docs", DecoratedDocumentViewSet, basename="decorated-document")
    return router.urls


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    settings = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}
    GENERATOR_STATS.reset()
    with override_settings(REST_FRAMEWORK=settings):
        generator = SchemaGenerator(
            patterns=[path("api/", include(drf_urls)), path("", include(decorated_urls()))]
        )
        generated = generator.get_schema(request=None, public=True)
    assert not GENERATOR_STATS, "drf-spectacular reported warnings or errors"
    return json.loads(OpenApiJsonRenderer().render(generated))  # type: ignore[no-any-return]


def operation(schema: dict[str, Any], route: str, method: str) -> dict[str, Any]:
    return schema["paths"][route][method]  # type: ignore[no-any-return]


def headers_of(op: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in op.get("parameters", []) if p["in"] == "header"}


def error_schema(op: dict[str, Any], status: str) -> tuple[str, str]:
    [(media_type, content)] = op["responses"][status]["content"].items()
    return media_type, content["schema"].get("$ref", content["schema"].get("type"))


DETAIL = "/api/docs/{id}/"


def test_the_extension_is_registered_by_importing_the_drf_module() -> None:
    from django_preconditions.spectacular import PreconditionViewExtension

    assert PreconditionViewExtension in OpenApiViewExtension._registry


def test_the_schema_is_valid_openapi(schema):
    validate(schema)


def test_retrieve_documents_revalidation_and_the_validators(schema):
    op = operation(schema, DETAIL, "get")

    assert {"If-None-Match", "If-Modified-Since", "If-Match"} <= headers_of(op).keys()
    assert not any(p.get("required") for p in headers_of(op).values())
    responses = op["responses"]
    assert {"200", "304", "400", "412"} <= responses.keys()
    assert {"ETag", "Last-Modified"} <= responses["200"]["headers"].keys()
    assert {"ETag", "Last-Modified"} <= responses["304"]["headers"].keys()
    assert "content" not in responses["304"]


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_protected_writes_require_if_match_and_document_400_412_428(schema, method):
    op = operation(schema, DETAIL, method)

    headers = headers_of(op)
    assert headers["If-Match"]["required"] is True
    assert not headers["If-Unmodified-Since"].get("required")
    for status in ("400", "412", "428"):
        assert error_schema(op, status) == (
            "application/problem+json",
            "#/components/schemas/PreconditionProblem",
        )
    assert {"ETag", "Last-Modified"} <= op["responses"]["412"]["headers"].keys()
    assert "headers" not in op["responses"]["428"]


@pytest.mark.parametrize(
    ("method", "status"), [("put", "200"), ("patch", "200"), ("delete", "204")]
)
def test_success_responses_document_the_new_validators_except_after_delete(schema, method, status):
    response = operation(schema, DETAIL, method)["responses"][status]

    if method == "delete":
        assert "headers" not in response
    else:
        assert {"ETag", "Last-Modified"} <= response["headers"].keys()


def test_the_problem_schema_lists_the_rfc_9457_members(schema):
    problem = schema["components"]["schemas"]["PreconditionProblem"]

    assert {"type", "title", "status", "detail", "instance"} <= set(problem["required"])
    assert problem["properties"]["status"]["type"] == "integer"


def test_create_documents_location_and_the_new_validators(schema):
    response = operation(schema, "/api/docs/", "post")["responses"]["201"]

    assert {"ETag", "Last-Modified", "Location"} <= response["headers"].keys()


def test_list_documents_its_collection_etag_and_304(schema):
    op = operation(schema, "/api/docs/", "get")

    assert "If-None-Match" in headers_of(op)
    assert "304" in op["responses"]
    assert "ETag" in op["responses"]["200"]["headers"]
    assert "Last-Modified" not in op["responses"]["200"]["headers"]


def test_the_policy_of_the_view_decides_what_is_required(schema):
    route = "/api/custom/docs/{id}/"
    put = operation(schema, route, "put")
    patch = operation(schema, route, "patch")  # partial_update: PATCH is not protected

    assert headers_of(put)["If-Match"]["required"] is True
    assert "428" in put["responses"]
    assert not headers_of(patch)["If-Match"].get("required")
    assert "428" not in patch["responses"]
    assert "412" in patch["responses"]


def test_extra_actions_follow_their_precondition_keywords(schema):
    publish = operation(schema, "/api/custom/docs/{id}/publish/", "post")
    touch = operation(schema, "/api/custom/docs/{id}/touch/", "post")

    assert headers_of(publish)["If-Match"]["required"] is True
    assert "428" in publish["responses"]
    assert not headers_of(touch)["If-Match"].get("required")


@pytest.mark.parametrize(
    ("prefix", "media_type", "component"),
    [
        ("guidance", "application/json", "#/components/schemas/PreconditionGuidance"),
        ("drf-format", "application/json", "#/components/schemas/PreconditionDRFError"),
        ("envelope", "application/json", "object"),
    ],
)
def test_error_responses_follow_the_configured_format(schema, prefix, media_type, component):
    op = operation(schema, f"/api/{prefix}/docs/{{id}}/", "put")

    assert error_schema(op, "428") == (media_type, component)


def test_create_by_put_documents_create_only(schema):
    op = operation(schema, "/api/creating/docs/{id}/", "put")

    headers = headers_of(op)
    assert "If-None-Match" in headers
    assert not headers["If-Match"].get("required")  # If-None-Match: * is the alternative
    assert {"ETag", "Last-Modified", "Location"} <= op["responses"]["201"]["headers"].keys()
    assert "Location" not in op["responses"]["200"]["headers"]


def test_generic_views_are_documented_too(schema):
    detail = operation(schema, "/api/generic/docs/{id}/", "get")
    listing = operation(schema, "/api/generic/docs/", "get")

    assert "304" in detail["responses"]
    assert "Last-Modified" in detail["responses"]["200"]["headers"]
    assert "Last-Modified" not in listing["responses"]["200"]["headers"]
    assert headers_of(operation(schema, "/api/generic/docs/{id}/", "put"))["If-Match"]["required"]


def test_views_without_the_mixin_are_untouched(schema):
    op = operation(schema, "/api/plain/docs/{id}/", "put")

    assert "If-Match" not in headers_of(op)
    assert "412" not in op["responses"]


def test_actions_documented_with_extend_schema_keep_the_preconditions(schema):
    retrieve = operation(schema, "/decorated/docs/{id}/", "get")
    patch = operation(schema, "/decorated/docs/{id}/", "patch")

    assert retrieve["summary"] == "Read a document"
    assert "304" in retrieve["responses"]
    assert patch["description"] == "Change some fields."
    assert headers_of(patch)["If-Match"]["required"] is True
    assert "428" in patch["responses"]
