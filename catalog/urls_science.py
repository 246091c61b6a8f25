from django.urls import path

from catalog import views_science

urlpatterns = [
    path("science/exports/", views_science.exports, name="exports"),
    path("science/exports/<str:fmt>", views_science.export_download, name="export_download"),
    path("science/population/", views_science.population, name="population"),
    path("science/imports/", views_science.imports, name="imports"),
    path("science/imports/<int:pk>/", views_science.import_detail, name="import_detail"),
    path("science/imports/<int:pk>/report.csv", views_science.import_report_csv, name="import_report_csv"),
]
