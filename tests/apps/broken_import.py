"""Fails on import: it needs a module that does not exist (the inner error must be shown)."""

import not_a_real_module_xyz  # noqa: F401


async def app(scope: object, receive: object, send: object) -> None:
    raise AssertionError("never reached: the import above fails")
