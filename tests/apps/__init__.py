"""Tiny fixture apps, one behaviour each, loaded by target ("tests.apps.asgi_hello:app")."""
