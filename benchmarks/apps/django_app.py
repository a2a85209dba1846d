"""A one-file Django project (settings, URLs, a view) served through wsgi.py and asgi.py."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import path

settings.configure(
    DEBUG=False,
    SECRET_KEY="benchmark-only",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=[],
    MIDDLEWARE=[
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ],
    USE_TZ=True,
)


def index(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"message": "Hello, world!", "path": request.path})


urlpatterns = [path("", index)]

# What a project's wsgi.py and asgi.py export.
from django.core.asgi import get_asgi_application  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

wsgi_application = get_wsgi_application()
asgi_application = get_asgi_application()
