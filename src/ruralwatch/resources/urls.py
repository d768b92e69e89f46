from django.urls import path

from ruralwatch.resources import views

app_name = "resources"

urlpatterns = [
    path("", views.home, name="home"),
    path("area/<str:code>/", views.area, name="area"),
    path("area/<str:code>/allocate/", views.allocate, name="allocate"),
    path("area/<str:code>/referrals/", views.referrals, name="referrals"),
]
