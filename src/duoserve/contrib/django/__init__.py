"""duoserve for Django: `manage.py runserver` served by duoserve.

Put "duoserve.contrib.django" in INSTALLED_APPS (before django.contrib.staticfiles) and
`manage.py runserver` serves the project on duoserve."""
