"""/api/ routes: resources, token, OpenAPI schema and its docs pages (assets served locally)."""

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from catalog.api import views, views_merge, views_review, views_science
from catalog.api.token import TokenView

router = DefaultRouter()
router.register("organizations", views.OrganizationViewSet, basename="api-organization")
router.register("locations", views.LocationViewSet, basename="api-location")
router.register("stations", views.StationViewSet, basename="api-station")
router.register("individuals", views.IndividualViewSet, basename="api-individual")
router.register("sightings", views_review.SightingWorkflowViewSet, basename="api-sighting")
router.register("images", views.ImageViewSet, basename="api-image")
router.register("runs", views_review.RunViewSet, basename="api-run")
router.register("decisions", views_review.DecisionViewSet, basename="api-decision")
router.register("merges", views_merge.MergeViewSet, basename="api-merge")
router.register("imports", views_science.ImportJobViewSet, basename="api-import")

# The docs pages run the site's policy with no inline script (the Swagger UI's start script is a
# separate request, our Redoc page has none); only their own inline styles are allowed.
DOCS_CSP = {"style-src": [UNSAFE_INLINE]}
REDOC_CSP = {**DOCS_CSP, "worker-src": [SELF, "blob:"]}  # Redoc searches in a blob: worker

urlpatterns = [
    path("token/", TokenView.as_view(), name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", csp_update(DOCS_CSP)(SpectacularSwaggerSplitView.as_view(url_name="api-schema")), name="api-docs"),
    path(
        "redoc/",
        csp_update(REDOC_CSP)(SpectacularRedocView.as_view(url_name="api-schema", template_name="api/redoc.html")),
        name="api-redoc",
    ),
    path("exports/<str:fmt>", views_science.ExportView.as_view(), name="api-export"),
    path("population/", views_science.PopulationView.as_view(), name="api-population"),
    path("", include(router.urls)),
]
