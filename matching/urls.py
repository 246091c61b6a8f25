from django.urls import path

from matching import views, views_review

urlpatterns = [
    path("sightings/mine/", views.my_sightings, name="my_sightings"),
    path("sightings/<int:pk>/identify/", views.run_start, name="run_start"),
    path("sightings/<int:pk>/boxes.json", views.boxes_suggest, name="boxes_suggest"),
    path("sightings/<int:pk>/review/", views_review.review_decide, name="review_decide"),
    path("runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("runs/<int:pk>/status.json", views.run_status, name="run_status"),
    path("runs/<int:pk>/retry/", views.run_retry, name="run_retry"),
    path("candidates/<int:pk>/overlay.png", views.candidate_overlay, name="candidate_overlay"),
    path("review/", views_review.review_queue, name="review_queue"),
]
