from django.urls import path

from catalog import views_submit

urlpatterns = [
    path("submit/", views_submit.submit, name="submit"),
    path("sightings/<int:pk>/edit/", views_submit.sighting_edit, name="sighting_edit"),
    path("sightings/<int:pk>/images/<int:image_pk>/box/", views_submit.image_box_save, name="image_box_save"),
    path("sightings/<int:pk>/withdraw/", views_submit.sighting_withdraw_view, name="sighting_withdraw"),
]
