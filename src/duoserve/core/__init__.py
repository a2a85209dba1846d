"""The connection core: the per-worker server, admitting a connection, its request loop."""
