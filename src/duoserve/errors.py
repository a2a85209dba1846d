"""Exceptions that cross module boundaries, each meaning one kind of failure."""

from __future__ import annotations


class DuoserveError(Exception):
    """Base of duoserve's own errors."""


class ConfigError(DuoserveError):
    """A setting has a bad value or a config source cannot be read; shown as one line."""


class AppLoadError(DuoserveError):
    """APP cannot be imported or is not a servable app; shown as one line (plus the
    import traceback when the failure happened inside the user's module)."""

    def __init__(self, message: str, *, show_traceback: bool = False) -> None:
        super().__init__(message)
        self.show_traceback = show_traceback


class StartupError(DuoserveError):
    """The server cannot start: bind failure, lifespan startup failure."""


class ProtocolError(DuoserveError):
    """The peer broke HTTP; `status` is what we answer before closing."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class ClientDisconnected(OSError):
    """Raised by ASGI send() once the client has gone (the spec asks for an OSError)."""


def own_error(exc: BaseException) -> DuoserveError | None:
    """duoserve's own error inside the exception groups task groups wrap it in."""
    if isinstance(exc, DuoserveError):
        return exc
    for inner in getattr(exc, "exceptions", ()):
        found = own_error(inner)
        if found is not None:
            return found
    return None


# Process exit status after a stop that cut requests: the graceful timeout ran out (or a
# second SIGINT, or the supervisor's kill) with connections still open. 0 means every
# connection finished; 1 is a startup error. Documented in docs/deployment.md.
EXIT_DRAIN_CUT = 4
