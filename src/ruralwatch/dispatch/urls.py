from django.urls import path

from ruralwatch.dispatch import views

app_name = "dispatch"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("read/", views.mark_all_read, name="mark_read"),
    path("tasks/<str:task_id>/", views.task_detail, name="task"),
    path("tasks/<str:task_id>/act/", views.act, name="act"),
    path("accountability/", views.accountability_home, name="accountability"),
    path("accountability/<str:code>/", views.accountability_area, name="accountability_area"),
]
