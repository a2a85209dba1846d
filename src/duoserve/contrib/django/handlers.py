"""The WSGI apps runserver serves: the project's, optionally behind Django's static files.

The project's WSGI_APPLICATION, optionally behind Django's static files handler (files from
the finders, as Django's own runserver does)."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """Built on first access, in the worker, once DJANGO_SETTINGS_MODULE is set."""
    from django.core.servers.basehttp import get_internal_wsgi_application

    if name == "application":
        return get_internal_wsgi_application()
    if name == "static_application":
        from django.contrib.staticfiles.handlers import StaticFilesHandler

        return StaticFilesHandler(get_internal_wsgi_application())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
