"""B6's URLconf: the app's own URLs plus an empty view (the server floor).

gunicorn serves ``bench.b6_serving:wsgi_app()``, which points ROOT_URLCONF here,
so the empty view runs through the same middleware as the predict URL.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from lifecycle_app.urls import urlpatterns as app_urlpatterns


@csrf_exempt
def empty(request):
    return HttpResponse(b"{}", content_type="application/json")


urlpatterns = [path("bench/empty", empty), *app_urlpatterns]
