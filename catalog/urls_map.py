from django.urls import path

from catalog import views_map

urlpatterns = [
    path("map/", views_map.map_page, name="map"),
    path("map/sightings.geojson", views_map.sightings_geojson, name="map_sightings_geojson"),
    path("map/stations.geojson", views_map.stations_geojson, name="map_stations_geojson"),
    path("individuals/", views_map.individual_list, name="individual_list"),
    path("individuals/<int:pk>/", views_map.individual_detail, name="individual_detail"),
    path("individuals/<int:pk>/track.geojson", views_map.individual_track_geojson, name="individual_track_geojson"),
    path("stations/", views_map.station_list, name="station_list"),
    path("sightings/<int:pk>/", views_map.sighting_detail, name="sighting_detail"),
]
