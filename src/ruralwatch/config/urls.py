"""URL configuration."""

from django.contrib import admin
from django.urls import include, path

from ruralwatch.config.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("ruralwatch.accounts.urls")),
    path("api/", include("ruralwatch.api.urls")),
    path("keygroups/", include("ruralwatch.keygroups.urls")),
    path("dispatch/", include("ruralwatch.dispatch.urls")),
    path("briefings/", include("ruralwatch.briefings.urls")),
    path("resources/", include("ruralwatch.resources.urls")),
    path("keyareas/", include("ruralwatch.keyareas.urls")),
    path("intake/", include("ruralwatch.intake.urls")),
    path("", include("ruralwatch.dashboard.urls")),
]

# Error pages inside the site's frame, in the user's language (shown when DEBUG is off).
handler403 = "ruralwatch.dashboard.errors.permission_denied"
handler404 = "ruralwatch.dashboard.errors.page_not_found"
handler500 = "ruralwatch.dashboard.errors.server_error"
