from django.urls import path

from kinfolk.imports import views

app_name = "imports"
urlpatterns = [
    path("", views.upload, name="upload"),
    path("<int:pk>/mapping/", views.mapping, name="mapping"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/start/", views.start, name="start"),
    path("<int:pk>/errors.csv", views.error_report, name="errors"),
    path("<int:pk>/undo/", views.undo, name="undo"),
]
