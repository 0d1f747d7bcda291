"""Kinfolk's URL map: the web application; the API mounts under /api/v1/."""

from django.urls import include, path

urlpatterns = [
    path("api/v1/", include("kinfolk.api.urls")),
    path("settings/tokens/", include("kinfolk.access.urls")),
    path("settings/webhooks/", include("kinfolk.webhooks.urls")),
    path("imports/", include("kinfolk.imports.urls")),
    path("", include("kinfolk.web.urls")),
]

handler404 = "kinfolk.api.errors.not_found"
handler500 = "kinfolk.api.errors.server_error"
