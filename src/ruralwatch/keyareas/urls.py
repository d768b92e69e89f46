from django.urls import path  # noqa: F401

app_name = "keyareas"

urlpatterns: list = []  # type: ignore[type-arg]
