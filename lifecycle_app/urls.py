from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from projects.api import api, not_found
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
    # Whatever under /api/ no operation matches (the bare /api/ included, which
    # django-ninja would answer with an HTML 404) answers 404 in JSON.
    re_path(r"^api/$", not_found),
    path("api/", api.urls),
    re_path(r"^api/", not_found),
    path("", include("projects.urls")),
]
