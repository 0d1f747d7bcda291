from django.urls import path

from kinfolk.access import views

app_name = "access"
urlpatterns = [
    path("", views.tokens, name="tokens"),
    path("<int:pk>/revoke/", views.revoke_token, name="revoke-token"),
]
