"""WSGI on the async core: the adapter (an ASGI app), its environ and input, the thread pool."""
