from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

from businessobjects.api.urls import urlpatterns as api_urlpatterns

urlpatterns = [
    # The audit log and "undo this request" (audit.admin_views), in the admin.
    path("admin/audit/", include("audit.admin_urls")),
    path("admin/", admin.site.urls),
    path("api/audit/", include("audit.urls")),
    path("api/", include(api_urlpatterns)),
    path("api/events/", include("events.urls")),
    path("api/webhooks/", include("webhooks.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(
            url_name="schema", template_name="businessobjects/redoc.html"
        ),
        name="redoc",
    ),
    path("health/", include("businessobjects.health")),
]

# JSON errors for /api/ URLs that no view handles (HTML elsewhere).
handler400 = "businessobjects.api.exceptions.bad_request"
handler404 = "businessobjects.api.exceptions.page_not_found"
handler500 = "businessobjects.api.exceptions.server_error"
