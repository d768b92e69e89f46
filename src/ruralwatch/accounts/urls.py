from django.contrib.auth import views as auth_views
from django.urls import path

from ruralwatch.accounts import views
from ruralwatch.accounts.forms import ThrottledAuthenticationForm

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="accounts/login.html",
            authentication_form=ThrottledAuthenticationForm,
            redirect_authenticated_user=True,
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
    path("start/", views.landing, name="landing"),
    path("users/", views.users, name="users"),
    path("users/<int:user_id>/deactivate/", views.deactivate, name="user_deactivate"),
    path("users/<int:user_id>/reactivate/", views.reactivate, name="user_reactivate"),
]
