"""Logging in (lockout, demo logins) and the user's profile page: personal API
tokens (shown once, stored hashed)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from projects.forms import TokenForm
from projects.models import ApiToken
from projects.security import demo_refused_message, is_refused_demo_username
from projects.services.tokens import token_create, token_revoke


class LoginForm(AuthenticationForm):
    """Django's login form, saying why a seed_demo login is refused."""

    def clean(self):
        username = self.cleaned_data.get("username", "")
        if is_refused_demo_username(username, self.request):
            raise forms.ValidationError(demo_refused_message(), code="demo_refused")
        return super().clean()


class LoginView(auth_views.LoginView):
    form_class = LoginForm


def lockout_response(request, original_response=None, credentials=None):
    """django-axes' answer to a locked-out login: the login page with a message
    (429), not a bare error page. The password is never echoed back."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    form = LoginForm(request, initial={"username": request.POST.get("username", "")})
    message = (
        f"Too many failed logins for this username from your address: it is locked "
        f"for {minutes} minutes after the last attempt, and even the right password "
        "is refused until then. Wait, or ask an administrator to unlock it "
        "(manage.py axes_reset_username USERNAME)."
    )
    return render(
        request,
        "registration/login.html",
        {
            "form": form,
            "lockout_message": message,
            "next": request.POST.get("next", ""),
        },
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    new_token = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            _token, new_token = token_create(
                user=request.user, name=form.cleaned_data["name"]
            )
            form = TokenForm()
        else:
            status = 400
    tokens = ApiToken.objects.filter(user=request.user)
    return render(
        request,
        "accounts/profile.html",
        {"form": form, "tokens": tokens, "new_token": new_token},
        status=status,
    )


@login_required
@require_POST
def token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    token = ApiToken.objects.filter(pk=token_id, user=request.user).first()
    if token is None:
        raise Http404("No such token.")
    token_revoke(token=token, user=request.user)
    return redirect("profile")
