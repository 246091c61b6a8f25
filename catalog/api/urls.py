"""/api/ routes: resources, token, OpenAPI schema and its docs pages (assets served locally)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from catalog.api import views, views_merge, views_review, views_science

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

urlpatterns = [
    path("token/", obtain_auth_token, name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("exports/<str:fmt>", views_science.ExportView.as_view(), name="api-export"),
    path("population/", views_science.PopulationView.as_view(), name="api-population"),
    path("", include(router.urls)),
]
