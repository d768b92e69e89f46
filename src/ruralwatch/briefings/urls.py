from django.urls import path

from ruralwatch.briefings import views

app_name = "briefings"

urlpatterns = [
    path("area/<str:code>/", views.area_briefings, name="area"),
    path("<int:briefing_id>/download/", views.download, name="download"),
]
