"""Small middlewares: Content-Security-Policy and the 413 for oversized uploads."""

from __future__ import annotations

from django.http import JsonResponse
from django.shortcuts import render

from projects.uploads import upload_limit_message

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        # plotly.js sets inline styles on the chart elements it creates.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        return response


class UploadTooLargeMiddleware:
    """Answers 413 when the upload handler stopped reading an oversized body.

    Views that take uploads check ``request.upload_too_large`` themselves to show the
    message inline; this catches every other route so that no view ever works on a
    silently truncated request.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.method not in ("POST", "PUT", "PATCH"):
            return None
        if request.content_type != "multipart/form-data":
            return None
        # Touch FILES so the handler runs before the view.
        request.FILES  # noqa: B018
        if not getattr(request, "upload_too_large", False):
            return None
        if getattr(view_func, "handles_upload_too_large", False):
            return None
        if request.path.startswith("/api/"):
            return JsonResponse(
                {"message": upload_limit_message(), "field": "file"}, status=413
            )
        return render(
            request, "413.html", {"message": upload_limit_message()}, status=413
        )
