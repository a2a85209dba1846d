"""`manage.py runserver` on duoserve: the production core for a Django project in development.

The same core as in production, WSGI for HTTP (on threads, static files from the finders in
DEBUG), the project's ASGI_APPLICATION for WebSockets and lifespan, and duoserve's --reload
instead of Django's autoreloader."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.commands.runserver import Command as DjangoRunserver

HANDLERS = "duoserve.contrib.django.handlers"


class Command(DjangoRunserver):  # type: ignore[misc]  # Django ships no type hints
    help = "Starts duoserve for development (HTTP on WSGI threads, WebSocket on ASGI)."

    def run(self, **options: Any) -> None:
        """Checks run here; then this process becomes `duoserve`, which imports the
        project only in its workers, so each reload starts from fresh code."""
        if not options.get("skip_checks"):
            self.stdout.write("Performing system checks...\n\n")
            self.check(display_num_errors=True)
        self.check_migrations()
        argv = [sys.executable, "-m", "duoserve", *self.duoserve_args(**options)]
        self.stdout.write(f"Starting duoserve: {' '.join(argv[3:])}\n")
        self.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, argv)

    def duoserve_args(self, **options: Any) -> list[str]:
        serve_static = options.get("use_static_handler", True) and (
            settings.DEBUG or options.get("insecure_serving", False)
        )
        app = f"{HANDLERS}:{'static_application' if serve_static else 'application'}"
        project = project_dir()
        host = f"[{self.addr}]" if self.use_ipv6 else self.addr
        args = [app, "--bind", f"{host}:{self.port}", "--app-dir", str(project)]
        asgi = getattr(settings, "ASGI_APPLICATION", None)
        if asgi:
            module, _, attr = str(asgi).rpartition(".")
            args += ["--ws-app", f"{module}:{attr}"]
        if options.get("use_reloader", True):
            args += ["--reload", "--reload-dir", str(project)]
        if not options.get("use_threading", True):
            args += ["--threads", "1"]
        return args


def project_dir() -> Path:
    """The directory the settings module is imported from (where manage.py lives)."""
    module = importlib.import_module(settings.SETTINGS_MODULE)
    path = Path(str(module.__file__)).resolve().parent
    for _ in range(settings.SETTINGS_MODULE.count(".")):
        path = path.parent
    return path
