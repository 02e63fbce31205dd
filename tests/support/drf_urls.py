"""URLs of the DRF tests, included under ``api/`` (namespace ``api``)."""

from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from tests.testapp import drf_views

app_name = "api"

router = DefaultRouter()
router.register("docs", drf_views.DocumentViewSet, basename="document")
router.register("plain/docs", drf_views.PlainDocumentViewSet, basename="plain-document")
router.register("strict/docs", drf_views.StrictDocumentViewSet, basename="strict-document")
router.register("owned/docs", drf_views.OwnedDocumentViewSet, basename="owned-document")
router.register("creating/docs", drf_views.CreatingDocumentViewSet, basename="creating-document")
router.register("custom/docs", drf_views.CustomPolicyDocumentViewSet, basename="custom-document")
router.register("guidance/docs", drf_views.GuidanceDocumentViewSet, basename="guidance-document")
router.register("drf-format/docs", drf_views.DrfFormatDocumentViewSet, basename="drf-document")
router.register("envelope/docs", drf_views.EnvelopeDocumentViewSet, basename="envelope-document")
router.register("racing/docs", drf_views.RacingDocumentViewSet, basename="racing-document")
router.register("paged/docs", drf_views.PagedDocumentViewSet, basename="paged-document")
router.register("readonly/docs", drf_views.ReadOnlyDocumentViewSet, basename="readonly-document")
router.register(
    "optionally-paged/docs",
    drf_views.OptionallyPagedDocumentViewSet,
    basename="optionally-paged-document",
)
router.register("offset/docs", drf_views.OffsetDocumentViewSet, basename="offset-document")
router.register(
    "unpaginated-list/docs",
    drf_views.UnpaginatedListDocumentViewSet,
    basename="unpaginated-list-document",
)
router.register("own-lookup/docs", drf_views.OwnLookupDocumentViewSet, basename="own-lookup")

urlpatterns = [
    path("", include(router.urls)),
    path("generic/docs/", drf_views.DocumentListCreate.as_view(), name="generic-document-list"),
    path(
        "generic/docs/<int:pk>/",
        drf_views.DocumentDetail.as_view(),
        name="generic-document-detail",
    ),
]
