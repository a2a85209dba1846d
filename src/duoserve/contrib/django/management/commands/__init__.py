"""`manage.py runserver`, served by duoserve."""
