"""Turn "module:attribute" into a servable app: import, factories, interface detection."""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import sys
import types
from dataclasses import dataclass

from ..config.settings import Interface
from ..errors import AppLoadError
from .detect import (
    INTERFACE_HINT,
    WSGI_FIRST,
    AppInterface,
    Undecided,
    classify,
    kind,
    signature_shape,
)

_DESCRIPTIONS: dict[AppInterface, str] = {"asgi3": "ASGI 3", "asgi2": "ASGI 2", "wsgi": "WSGI"}
_CONVENTIONAL_NAMES = ("app", "application", "api", "asgi", "wsgi", "asgi_app", "wsgi_app")


@dataclass(frozen=True, slots=True)
class LoadedApp:
    """The imported app object and the interface it will be served through."""

    target: str
    obj: object
    interface: AppInterface

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self.interface]


def load_app(
    target: str,
    *,
    factory: bool = False,
    interface: Interface = "auto",
    app_dir: str | None = ".",
) -> LoadedApp:
    """Import `target`; every failure is an AppLoadError with one line a newcomer can act on
    (plus `show_traceback` when the user's own code raised, so the CLI prints it)."""
    module_name, attrs = _parse_target(target)
    if app_dir is not None:
        _add_to_sys_path(app_dir)
    module = _import_module(module_name, app_dir)
    obj = _resolve_attributes(module, attrs, target)

    if factory:
        obj = _call_factory(obj, target)
    elif _looks_like_factory(obj):
        raise AppLoadError(
            f'"{target}" is a function taking no arguments, which looks like an app factory; '
            "pass --factory to call it and serve what it returns"
        )
    if not callable(obj):
        raise AppLoadError(_not_callable_message(obj, target))

    if interface != "auto":
        return LoadedApp(target, obj, interface)
    try:
        return LoadedApp(target, obj, classify(obj))
    except Undecided as exc:
        raise AppLoadError(f'"{target}": {exc}; {INTERFACE_HINT}') from None


# -- target parsing and import ------------------------------------------------------------


def _parse_target(target: str) -> tuple[str, list[str]]:
    example = 'expected "module:attribute", e.g. "myproject.asgi:application"'
    if ":" not in target:
        raise AppLoadError(f'invalid app "{target}": {example}')
    module_name, _, attr = target.partition(":")
    if not module_name or not attr or ":" in attr:
        raise AppLoadError(f'invalid app "{target}": {example}')
    if module_name.endswith(".py"):
        raise AppLoadError(
            f'invalid app "{target}": use the module name, not the file name: '
            f'"{module_name[:-3].replace("/", ".")}:{attr}"'
        )
    if "/" in module_name or "\\" in module_name:
        dotted = module_name.replace("\\", "/").strip("/").replace("/", ".")
        raise AppLoadError(
            f'invalid app "{target}": use a dotted module name ("{dotted}:{attr}") '
            "and --app-dir for the directory it lives in"
        )
    if attr.endswith(")"):
        raise AppLoadError(
            f'invalid app "{target}": to call a factory, pass --factory with '
            f'"{module_name}:{attr.partition("(")[0]}"'
        )
    parts = attr.split(".")
    if not all(part.isidentifier() for part in parts):
        raise AppLoadError(f'invalid app "{target}": "{attr}" is not a dotted Python name')
    return module_name, parts


def _add_to_sys_path(app_dir: str) -> None:
    path = os.path.abspath(app_dir)
    if path not in sys.path:
        sys.path.insert(0, path)


def _import_module(module_name: str, app_dir: str | None) -> types.ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            where = (
                f'the app dir "{os.path.abspath(app_dir)}"'
                if app_dir is not None
                else f'the current directory "{os.getcwd()}"'
            )
            what = (
                f'module "{module_name}"'
                if missing == module_name
                else f'package "{missing}" (needed for module "{module_name}")'
            )
            raise AppLoadError(
                f"cannot find {what} in {where} or on sys.path; check the spelling, "
                "or run from the project directory, or pass --app-dir"
            ) from None
        raise AppLoadError(
            f'importing module "{module_name}" failed: {_one_line(exc)}', show_traceback=True
        ) from exc
    except Exception as exc:
        raise AppLoadError(
            f'importing module "{module_name}" failed: {_one_line(exc)}', show_traceback=True
        ) from exc


def _resolve_attributes(module: types.ModuleType, attrs: list[str], target: str) -> object:
    obj: object = module
    for depth, name in enumerate(attrs):
        try:
            obj = getattr(obj, name)
        except AttributeError:
            if depth == 0:
                raise AppLoadError(_missing_in_module(module, name)) from None
            owner = ".".join(attrs[:depth])
            raise AppLoadError(
                f'"{target}": "{owner}" has no attribute "{name}" (it is {kind(obj)})'
            ) from None
        except Exception as exc:
            raise AppLoadError(
                f'"{target}": reading attribute "{name}" failed: {_one_line(exc)}',
                show_traceback=True,
            ) from exc
    return obj


def _missing_in_module(module: types.ModuleType, name: str) -> str:
    head = f'module "{module.__name__}" has no attribute "{name}"'
    candidates = _app_like_names(module)
    if not candidates:
        return f"{head}, and defines nothing that looks like an app"
    close = difflib.get_close_matches(name, list(candidates), n=len(candidates), cutoff=0.5)
    ordered = close + [c for c in candidates if c not in close]
    return f"{head}; did you mean: {', '.join(candidates[c] for c in ordered)}?"


def _app_like_names(module: types.ModuleType) -> dict[str, str]:
    """Public names in `module` that could be what the user meant, mapped to how to show them."""
    found: dict[str, str] = {}
    for name, value in sorted(vars(module).items()):
        if name.startswith("_") or isinstance(value, types.ModuleType) or not callable(value):
            continue
        own = getattr(value, "__module__", None) == module.__name__
        if (inspect.isfunction(value) or isinstance(value, type)) and not own:
            continue  # imported helpers (dataclass, Path...) would look like apps by shape
        if _looks_like_factory(value):
            found[name] = f"{name} (with --factory)"
            continue
        try:
            classify(value)
        except Undecided:
            if name in _CONVENTIONAL_NAMES:
                found[name] = name
            continue
        found[name] = name
    for name in _CONVENTIONAL_NAMES:
        if name not in found and name in vars(module):
            found[name] = name
    return found


def _call_factory(obj: object, target: str) -> object:
    if not callable(obj):
        raise AppLoadError(
            f'"{target}" is {kind(obj)}, not a callable, so --factory cannot call it'
        )
    try:
        inspect.signature(obj).bind()
    except TypeError:
        raise AppLoadError(
            f'"{target}" needs arguments, but --factory calls it with none; '
            "give its parameters defaults or wrap it in a function without parameters"
        ) from None
    except ValueError:
        pass  # no inspectable signature: just try it
    try:
        app = obj()
    except Exception as exc:
        raise AppLoadError(
            f'calling the factory "{target}" failed: {_one_line(exc)}', show_traceback=True
        ) from exc
    if inspect.iscoroutine(app):
        app.close()  # never awaited otherwise, which warns
        raise AppLoadError(
            f'the factory "{target}" is async; duoserve calls factories before the event loop '
            "starts, so make it a plain def"
        )
    if not callable(app):
        raise AppLoadError(
            f'the factory "{target}" returned {kind(app)}, not an app; '
            "it should return the ASGI or WSGI application"
        )
    return app


def _looks_like_factory(obj: object) -> bool:
    """A plain sync function that can be called with no arguments is a factory, not an app;
    unless its optional parameters are named like an app's."""
    if not inspect.isfunction(obj) or inspect.iscoroutinefunction(obj):
        return False
    shape = signature_shape(obj)
    if shape is None or shape.required or shape.kw_required:
        return False
    return not shape.names or shape.names[0] not in {"scope", *WSGI_FIRST}


def _not_callable_message(obj: object, target: str) -> str:
    if isinstance(obj, types.ModuleType):
        return (
            f'"{target}" is a module, not an app; name the app inside it, e.g. "{obj.__name__}:app"'
        )
    return (
        f'"{target}" is {kind(obj)}, which is not callable; '
        "point it at the ASGI or WSGI application object"
    )


# -- interface detection ------------------------------------------------------------------


# -- wording ------------------------------------------------------------------------------


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    detail = text[0] if text else ""
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
