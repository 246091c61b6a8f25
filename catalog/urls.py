from django.urls import include, path

from catalog import views

urlpatterns = [
    path("", views.home, name="home"),
    path("images/<uuid:uuid>/file", views.image_file, name="image_file"),
    path("images/<uuid:uuid>/thumb", views.image_thumb, name="image_thumb"),
    path("", include("catalog.urls_map")),
    path("", include("catalog.urls_submit")),
    path("", include("catalog.urls_science")),
    path("", include("catalog.urls_merge")),
    path("", include("catalog.urls_setup")),
]
