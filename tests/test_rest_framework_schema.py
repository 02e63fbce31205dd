"""OpenAPI with drf-spectacular (CONFORMANCE rule 49): adding the mixin is enough.

The schema is generated for the DRF test URLs with drf-spectacular's ``AutoSchema`` as the
project's ``DEFAULT_SCHEMA_CLASS`` (the one setting drf-spectacular itself asks for), checked
with openapi-spec-validator, and inspected for the headers and responses.
"""

from __future__ import annotations

import json
import re
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
from tests.support import drf_urls
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
    """(media type, schema) of an error response; a 400 of an operation with a request body
    also documents DRF's validation errors (application/json), left out here."""
    content = dict(op["responses"][status]["content"])
    if status == "400" and len(content) == 2:
        del content["application/json"]
    [(media_type, body)] = content.items()
    return media_type, body["schema"].get("$ref", body["schema"].get("type"))


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
def test_protected_writes_document_the_two_headers_as_alternatives_and_400_412_428(schema, method):
    """Rule 29: If-Match or If-Unmodified-Since satisfies the requirement, so neither is a
    required parameter (OpenAPI cannot say "one of"): x-preconditions and the descriptions do."""
    op = operation(schema, DETAIL, method)

    headers = headers_of(op)
    assert not headers["If-Match"].get("required")
    assert not headers["If-Unmodified-Since"].get("required")
    for name in ("If-Match", "If-Unmodified-Since"):
        assert "One of If-Match or If-Unmodified-Since is required" in headers[name]["description"]
    assert op["x-preconditions"] == {
        "required": True,
        "one-of": ["If-Match", "If-Unmodified-Since"],
        "wildcard-accepted": False,
        "when-missing": 428,
        "when-stale": 412,
        "when-malformed": 400,
    }
    for status in ("400", "412", "428"):
        assert error_schema(op, status) == (
            "application/problem+json",
            "#/components/schemas/PreconditionProblem",
        )
    assert {"ETag", "Last-Modified"} <= op["responses"]["412"]["headers"].keys()
    assert set(op["responses"]["428"]["headers"]) == {"Link"}  # no validators on a 428


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

    assert put["x-preconditions"]["required"] is True
    assert "428" in put["responses"]
    assert patch["x-preconditions"]["required"] is False
    assert "required" not in headers_of(patch)["If-Match"]["description"]
    assert "428" not in patch["responses"]
    assert "412" in patch["responses"]


def test_extra_actions_follow_their_precondition_keywords(schema):
    publish = operation(schema, "/api/custom/docs/{id}/publish/", "post")
    touch = operation(schema, "/api/custom/docs/{id}/touch/", "post")

    assert publish["x-preconditions"]["required"] is True
    assert "428" in publish["responses"]
    assert touch["x-preconditions"]["required"] is False


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
    assert op["x-preconditions"]["create-only"] == "If-None-Match: *"
    # PUT to an absent id creates it; an id the lookup cannot use still gets 404
    assert "404" in op["responses"]
    assert {"ETag", "Last-Modified", "Location"} <= op["responses"]["201"]["headers"].keys()
    assert "Location" not in op["responses"]["200"]["headers"]


def test_generic_views_are_documented_too(schema):
    detail = operation(schema, "/api/generic/docs/{id}/", "get")
    listing = operation(schema, "/api/generic/docs/", "get")

    assert "304" in detail["responses"]
    assert "Last-Modified" in detail["responses"]["200"]["headers"]
    assert "Last-Modified" not in listing["responses"]["200"]["headers"]
    assert operation(schema, "/api/generic/docs/{id}/", "put")["x-preconditions"]["required"]


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
    assert patch["x-preconditions"]["required"] is True
    assert "428" in patch["responses"]


# --- Entity-tag syntax, create, 404, validation errors (issue 13) -----------------------------


def pattern_of(parameter: dict[str, Any]) -> re.Pattern[str]:
    return re.compile(parameter["schema"]["pattern"])


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ('"abc"', True),
        ('W/"abc"', True),
        ('"a", W/"b"', True),
        ('"a,b"', True),  # a comma inside the quotes belongs to the tag
        ('"a" ,, "b"', True),  # empty list elements are allowed (RFC 9110 §5.6.1)
        ("", False),  # rule 5: an empty If-Match is malformed (400)
        ("*", False),  # the wildcard does not prove a version (428 here)
        ("abc", False),  # unquoted
        ('w/"abc"', False),
        ('"a" "b"', False),
        ('"a"b"', False),
    ],
)
def test_if_match_pattern_is_the_entity_tag_syntax_the_server_accepts(schema, method, value, valid):
    parameter = headers_of(operation(schema, DETAIL, method))["If-Match"]
    assert bool(pattern_of(parameter).match(value)) is valid


def test_the_wildcard_matches_the_pattern_where_it_is_accepted(schema):
    read = headers_of(operation(schema, DETAIL, "get"))
    assert pattern_of(read["If-Match"]).match("*")
    assert pattern_of(headers_of(operation(schema, "/api/docs/", "post"))["If-None-Match"]).match(
        "*"
    )


def test_if_none_match_on_reads_is_any_string_because_the_server_ignores_bad_ones(schema):
    """A malformed If-None-Match on GET/HEAD is ignored (rule 5 only refuses it on writes)."""
    parameter = headers_of(operation(schema, DETAIL, "get"))["If-None-Match"]
    assert parameter["schema"] == {"type": "string"}


def test_the_pattern_is_an_ecma_regular_expression(schema):
    """OpenAPI patterns are ECMA-262: no Python-only syntax."""
    pattern = headers_of(operation(schema, DETAIL, "put"))["If-Match"]["schema"]["pattern"]
    assert pattern.startswith("^")
    assert pattern.endswith("$")
    assert "(?P<" not in pattern
    assert "\\A" not in pattern
    assert "\\Z" not in pattern


def test_create_documents_if_none_match_and_its_400_and_412(schema):
    op = operation(schema, "/api/docs/", "post")

    parameter = headers_of(op)["If-None-Match"]
    assert not parameter.get("required")
    assert "412" in parameter["description"]
    assert error_schema(op, "412") == (
        "application/problem+json",
        "#/components/schemas/PreconditionProblem",
    )
    assert op["responses"]["400"]["content"].keys() == {
        "application/problem+json",
        "application/json",
    }
    assert op["x-preconditions"] == {"required": False, "evaluated-against": "collection"}


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_detail_operations_document_404_in_drf_shape(schema, method):
    op = operation(schema, DETAIL, method)

    assert error_schema(op, "404") == (
        "application/json",
        "#/components/schemas/PreconditionNotFound",
    )


@pytest.mark.parametrize("method", ["put", "patch"])
def test_writes_with_a_body_document_drf_validation_errors_next_to_malformed_headers(
    schema, method
):
    content = operation(schema, DETAIL, method)["responses"]["400"]["content"]
    assert content["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/PreconditionProblem"
    }
    assert content["application/json"]["schema"]["type"] == "object"


def test_delete_documents_only_the_precondition_400(schema):
    content = operation(schema, DETAIL, "delete")["responses"]["400"]["content"]
    assert content.keys() == {"application/problem+json"}


@pytest.mark.parametrize(
    ("route", "method", "status"),
    [
        (DETAIL, "put", "412"),
        (DETAIL, "put", "428"),
        (DETAIL, "get", "412"),
        ("/api/docs/", "post", "412"),
    ],
)
def test_the_help_link_header_is_documented_wherever_412_or_428_is(schema, route, method, status):
    assert "Link" in operation(schema, route, method)["responses"][status]["headers"]


def test_if_unmodified_since_says_invalid_dates_are_ignored(schema):
    description = headers_of(operation(schema, DETAIL, "put"))["If-Unmodified-Since"]["description"]
    assert "ignored" in description
    assert "HTTP-date" in description


def test_the_detailed_guidance_format_has_its_own_schema():
    from django_preconditions.policy import Policy
    from django_preconditions.spectacular import (
        PreconditionDetailedGuidanceSerializer,
        _error_body,
    )

    policy = Policy.from_settings().updated(error_format="json", json_detailed_headers=True)
    assert _error_body(policy) == ("application/json", PreconditionDetailedGuidanceSerializer)
    fields = PreconditionDetailedGuidanceSerializer().fields["required_headers"].child.fields
    assert set(fields) == {"name", "description", "example", "obtain_from"}
