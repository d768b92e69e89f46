from django.urls import path

from ruralwatch.keygroups import views

app_name = "keygroups"

urlpatterns = [
    path("", views.home, name="home"),
    path("today/", views.today, name="today"),
    path("register/", views.register, name="register"),
    path("register/options/<str:field>/", views.register_options, name="register_options"),
    path("persons/<str:ref>/", views.person_detail, name="person"),
    path("persons/<str:ref>/contact/", views.record_contact, name="contact"),
    path("area/<str:code>/", views.area_detail, name="area"),
    path("area/<str:code>/audit/<str:kind>/", views.audit_detail, name="audit"),
]
