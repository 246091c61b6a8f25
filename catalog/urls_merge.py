from django.urls import path

from catalog import views_merge

urlpatterns = [
    path("individuals/<int:pk>/merge/", views_merge.individual_merge, name="individual_merge"),
    path("merges/<int:pk>/", views_merge.merge_detail, name="merge_detail"),
    path("merges/<int:pk>/undo/", views_merge.merge_undo, name="merge_undo"),
]
