from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from projects.api import api
from projects.views import accounts

admin.site.site_header = "Lifecycle administration"
admin.site.site_title = "Lifecycle admin"

urlpatterns = [
    path("accounts/login/", accounts.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/profile/", accounts.profile, name="profile"),
    path(
        "accounts/tokens/<int:token_id>/revoke/",
        accounts.token_revoke_view,
        name="token_revoke",
    ),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("", include("projects.urls")),
]
