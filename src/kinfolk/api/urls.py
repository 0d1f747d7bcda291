"""/api/v1/: every app's resources on one router, the OpenAPI schema, and the browsable docs."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from kinfolk.access import api as access_api
from kinfolk.activities import api as activities_api
from kinfolk.core import api as core_api
from kinfolk.identity import api as identity_api
from kinfolk.people import api as people_api
from kinfolk.search import api as search_api
from kinfolk.webhooks import api as webhooks_api


class Router(DefaultRouter):
    include_root_view = False
    include_format_suffixes = False


router = Router()
for routes in (
    people_api.ROUTES,
    activities_api.ROUTES,
    access_api.ROUTES,
    identity_api.ROUTES,
    webhooks_api.ROUTES,
    core_api.ROUTES,
):
    for prefix, viewset in routes:
        router.register(prefix, viewset, basename=prefix)

app_name = "api"
urlpatterns = [
    path("me/", access_api.MeView.as_view({"get": "retrieve"}), name="me"),
    path("search/", search_api.SearchViewSet.as_view({"get": "search"}), name="search"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its init script from a URL: the Content-Security-Policy allows no inline code.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api:schema", template_name="api/swagger_ui.html"),
        name="docs",
    ),
    path("", include(router.urls)),
]
