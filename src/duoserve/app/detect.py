"""Which interface an app object speaks (ASGI 3, ASGI 2 or WSGI), from its call signature alone."""

from __future__ import annotations

import functools
import inspect
import math
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, cast

from ..errors import AppLoadError

AppInterface = Literal["asgi3", "asgi2", "wsgi"]


WSGI_FIRST = frozenset({"environ", "env", "environment", "e"})


INTERFACE_HINT = "pass --interface asgi3, asgi2 or wsgi to say which"


def detect_interface(obj: object) -> AppInterface:
    """Decide ASGI 3, ASGI 2 or WSGI from the object's call signature alone (never calls it)."""
    try:
        return classify(obj)
    except Undecided as exc:
        raise AppLoadError(f"{_describe(obj)}: {exc}; {INTERFACE_HINT}") from None


class Undecided(Exception):
    """Why an object's shape matches no interface (worded to follow "<object>: ")."""


@dataclass(frozen=True, slots=True)
class _Shape:
    names: tuple[str, ...]  # positional parameter names, in order
    required: int  # required positional parameters
    maximum: float  # positional parameters accepted (inf with *args)
    kw_required: bool  # a keyword-only parameter without default makes any call fail

    def accepts(self, count: int) -> bool:
        return not self.kw_required and self.required <= count <= self.maximum


def signature_shape(obj: object) -> _Shape | None:
    try:
        signature = inspect.signature(cast(Callable[..., object], obj))
    except (TypeError, ValueError):
        return None
    names: list[str] = []
    required = 0
    maximum: float = 0
    kw_required = False
    for param in signature.parameters.values():
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            names.append(param.name)
            maximum += 1
            required += param.default is param.empty
        elif param.kind is param.VAR_POSITIONAL:
            maximum = math.inf
        elif param.kind is param.KEYWORD_ONLY and param.default is param.empty:
            kw_required = True
    return _Shape(tuple(names), required, maximum, kw_required)


def _is_async_callable(obj: object, depth: int = 0) -> bool:
    """True for coroutine functions, partials of them, and objects whose __call__ is one."""
    while isinstance(obj, functools.partial):
        obj = obj.func
    if inspect.iscoroutinefunction(obj):
        return True
    if depth > 3 or isinstance(obj, type) or inspect.isroutine(obj):
        return False
    call = getattr(obj, "__call__", None)  # noqa: B004 - we want the attribute, not callable()
    return call is not None and _is_async_callable(call, depth + 1)


def classify(obj: object) -> AppInterface:
    if not callable(obj):
        raise Undecided(f"it is {kind(obj)}, which is not callable")
    is_async = _is_async_callable(obj)
    shape = signature_shape(obj)
    if shape is None:
        if is_async:
            return "asgi3"
        raise Undecided("its signature cannot be inspected")
    if is_async:
        if shape.accepts(3):
            return "asgi3"
        if shape.accepts(2):
            raise Undecided(
                "it is async and takes (receive, send), like the instance an ASGI 2 app "
                "returns; serve the callable that takes the scope instead"
            )
        raise Undecided(f"it is async but {_arity(shape)}, while ASGI 3 apps take 3")

    names = shape.names
    if names[:3] == ("scope", "receive", "send") and shape.accepts(3):
        return "asgi3"
    if names[:1] == ("scope",) and shape.accepts(1):
        return _check_asgi2(obj)
    if shape.accepts(2):
        return "wsgi"  # (environ, start_response), also *args wrappers
    if shape.accepts(3):
        return "asgi3"  # a plain def that returns a coroutine
    if shape.accepts(1):
        return _check_asgi2(obj)
    if shape.accepts(0):
        raise Undecided(
            "it takes no arguments, so it looks like an app factory; pass --factory to call it"
        )
    raise Undecided(f"{_arity(shape)}; ASGI 3 apps take 3, ASGI 2 apps 1 and WSGI apps 2")


def _check_asgi2(obj: object) -> AppInterface:
    """A one-argument callable is ASGI 2; for a class we can also check its instances."""
    if isinstance(obj, type) and not any("__call__" in vars(k) for k in obj.__mro__):
        raise Undecided(
            "it is a class taking one argument but its instances are not callable, "
            "so it is not an ASGI 2 app"
        )
    return "asgi2"


def _arity(shape: _Shape) -> str:
    if shape.kw_required:
        return "it requires keyword-only arguments"
    if shape.maximum == shape.required:
        return f"it takes {shape.required} positional arguments"
    return f"it takes {shape.required} to {shape.maximum:g} positional arguments"


def _describe(obj: object) -> str:
    if isinstance(obj, functools.partial):
        return f"functools.partial of {_describe(obj.func)}"
    if isinstance(obj, type):
        return f'class "{obj.__module__}.{obj.__qualname__}"'
    if inspect.ismethod(obj):
        return f'method "{obj.__qualname__}"'
    if inspect.isroutine(obj):
        return f'function "{getattr(obj, "__module__", "?")}.{obj.__qualname__}"'
    cls = type(obj)
    return f'"{cls.__module__}.{cls.__qualname__}" instance'


def kind(obj: object) -> str:
    if obj is None:
        return "None"
    if isinstance(obj, types.ModuleType):
        return f'module "{obj.__name__}"'
    if isinstance(obj, type):
        return f'class "{obj.__qualname__}"'
    name = type(obj).__name__
    article = "an" if name[:1].lower() in "aeiou" else "a"
    return f"{article} {name}"
