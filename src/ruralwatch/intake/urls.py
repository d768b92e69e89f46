from django.urls import path

from ruralwatch.intake import views

app_name = "intake"

urlpatterns = [
    path("", views.home, name="home"),
    path("sw.js", views.service_worker, name="sw"),
    path("manifest.webmanifest", views.manifest, name="manifest"),
    path("report/<str:code>/", views.report, name="report"),
    path("report/<str:code>/check/", views.check, name="check"),
    path("missing/<str:code>/", views.missing, name="missing"),
    path("signoff/<str:code>/", views.signoff_page, name="signoff"),
]
