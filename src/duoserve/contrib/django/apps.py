"""The Django app config; the app exists for its runserver command."""

from django.apps import AppConfig


class DuoserveConfig(AppConfig):  # type: ignore[misc]  # Django ships no type hints
    name = "duoserve.contrib.django"
    label = "duoserve"
    verbose_name = "duoserve"
