from django.urls import path

from ruralwatch.dashboard import flags, maps, views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("area/<str:code>/", views.area_detail, name="area"),
    path("area/<str:code>/map.json", maps.map_data, name="map_data"),
    path("area/<str:code>/panels/", views.area_panels, name="panels"),
    path("area/<str:code>/flags/", flags.flags_view, name="flags"),
    path("static-bundle/vega.js", views.vega_bundle, name="vega_bundle"),
]
