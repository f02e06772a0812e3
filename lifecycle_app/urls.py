from functools import partial

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from ninja.openapi.views import openapi_json, openapi_view

from projects.api import api, not_found
from projects.api.serving import native as serving_native
from projects.views import accounts


def _read_only(view):
    """django-ninja's document views answer any method: GET only (no CSRF check
    first, so a script is told 405 rather than a CSRF failure)."""
    return csrf_exempt(require_GET(partial(view, api=api)))


admin.site.site_header = "Lifecycle administration"
admin.site.site_title = "Lifecycle admin"

urlpatterns = [
    path(
        "accounts/login/",
        # Django's form views take PUT as POST; the login form takes POST only.
        accounts.LoginView.as_view(http_method_names=["get", "post", "options"]),
        name="login",
    ),
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
    # The document and its docs page are read-only (django-ninja's own views
    # answer any method).
    re_path(r"^api/openapi\.json$", _read_only(openapi_json)),
    re_path(r"^api/docs$", _read_only(openapi_view)),
    path("api/", api.urls),
    re_path(r"^api/", not_found),
    # A deployment's predict URL: keys, not sessions (docs/deployment.md).
    path(
        "deployments/<slug:slug>/predict",
        serving_native.predict,
        name="deployment_predict",
    ),
    path("", include("projects.urls")),
]
