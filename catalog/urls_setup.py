from django.urls import path

from catalog import views_setup

urlpatterns = [
    path("setup/", views_setup.setup_home, name="setup_home"),
    path("setup/areas/new/", views_setup.location_new, name="setup_location_new"),
    path("setup/areas/<int:pk>/", views_setup.location_edit, name="setup_location"),
    path("setup/areas/<int:pk>/stations/new/", views_setup.station_new, name="setup_station_new"),
    path("setup/stations/<int:pk>/", views_setup.station_edit, name="setup_station"),
]
