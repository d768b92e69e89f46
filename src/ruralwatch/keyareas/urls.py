from django.urls import path

from ruralwatch.keyareas import views

app_name = "keyareas"

urlpatterns = [
    path("", views.panel, name="panel"),
    path("import/", views.import_page, name="import"),
    path("derive/", views.derive, name="derive"),
    path("requests/answer/", views.answer, name="answer"),
    path("requests/withdraw/", views.withdraw, name="withdraw"),
    path("area/<str:code>/", views.area_detail, name="area"),
    path("area/<str:code>/tags/", views.set_tags, name="tags"),
    path("area/<str:code>/pairing/", views.set_pairing, name="pairing"),
    path("area/<str:code>/request/", views.file_request, name="request"),
]
