"""The example projects, each served once per test session in each mode."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.examples.serving import Served, copy_example, run_python, start

ADMIN_USER, ADMIN_PASSWORD = "admin", "a-test-password-9"

# mode -> duoserve arguments for the Django example. 64 threads: the parallel-views test
# runs 50 slow sync views at once.
DJANGO_MODES = {
    "wsgi": ["mysite.wsgi:application"],
    "asgi": ["mysite.asgi:application"],
    "mixed": ["mysite.wsgi:application", "--ws-app", "mysite.asgi:application"],
    # As deployed: DEBUG off, the collected static files served by duoserve itself.
    "production": [
        "mysite.wsgi:application",
        "--ws-app",
        "mysite.asgi:application",
        "--static",
        "/static=staticfiles",
    ],
}
PRODUCTION_ENV = {"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "only-for-the-tests-" + "x" * 40}


@pytest.fixture(scope="session")
def django_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated copy of examples/django with a superuser, outside the source tree."""
    project = copy_example("django", tmp_path_factory.mktemp("examples"))
    run_python(["manage.py", "migrate", "--noinput", "-v0"], project, {})
    run_python(["manage.py", "collectstatic", "--noinput", "-v0"], project, {})
    run_python(
        ["manage.py", "createsuperuser", "--noinput", "--email", "admin@example.com"],
        project,
        {"DJANGO_SUPERUSER_USERNAME": ADMIN_USER, "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD},
    )
    return project


@pytest.fixture(scope="session")
def django_servers(django_project: Path) -> Iterator[Callable[[str], Served]]:
    """Start the Django example in a mode on first use; every server stops at the end."""
    servers: dict[str, Served] = {}

    def get(mode: str) -> Served:
        if mode not in servers:
            argv = ["-m", "duoserve", *DJANGO_MODES[mode], "--port", "0", "--threads", "64"]
            env = PRODUCTION_ENV if mode == "production" else {}
            servers[mode] = start([*argv, "--no-access-log"], django_project, env)
        return servers[mode]

    yield get
    for served in servers.values():
        served.stop()


@pytest.fixture(scope="session")
def flask_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    project = copy_example("flask", tmp_path_factory.mktemp("examples"))
    uploads = tmp_path_factory.mktemp("flask-uploads")
    served = start(
        ["-m", "duoserve", "app:app", "--port", "0", "--threads", "64", "--no-access-log"],
        project,
        {"FLASK_UPLOAD_DIR": str(uploads)},
    )
    yield served
    served.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[Any]:
    """Keep each phase's report on the test item, so fixtures can see a failure (the
    browser tests take a screenshot)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
