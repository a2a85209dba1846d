"""The ASGI layer: scope building, the one HTTP cycle, lifespan, the per-server context."""
