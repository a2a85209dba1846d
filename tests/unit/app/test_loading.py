"""Tests for duoserve.app (loading, detect, interface): target parsing, import errors, factories,
interface detection."""

from __future__ import annotations

import functools
import os
import sys
import textwrap
import uuid
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from duoserve.app.detect import detect_interface
from duoserve.app.interface import wrap_asgi2
from duoserve.app.loading import LoadedApp, load_app
from duoserve.errors import AppLoadError
from duoserve.types import Message, Receive, Scope, Send

REPO_ROOT = str(Path(__file__).resolve().parents[3])
BACKENDS = ["asyncio", "trio"]


@pytest.fixture(autouse=True)
def _isolate_imports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """load_app edits sys.path and imports modules; undo both so tests stay independent."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith(("dsl_", "tests")):
            del sys.modules[name]


ModuleMaker = Callable[..., str]


@pytest.fixture
def make_module(tmp_path: Path) -> ModuleMaker:
    """Write a module (or `pkg/sub` package modules) under tmp_path; returns its dotted name.
    Names are unique per call so sys.modules caching can never leak between tests."""

    def make(source: str, *, package: dict[str, str] | None = None) -> str:
        name = f"dsl_{uuid.uuid4().hex[:12]}"
        if package is None:
            (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
            return name
        pkg_dir = tmp_path / name
        pkg_dir.mkdir()
        (pkg_dir / "__init__.py").write_text(textwrap.dedent(source))
        for sub, sub_source in package.items():
            (pkg_dir / f"{sub}.py").write_text(textwrap.dedent(sub_source))
        return name

    return make


def load_error(target: str, **kwargs: Any) -> AppLoadError:
    with pytest.raises(AppLoadError) as info:
        load_app(target, **kwargs)
    return info.value


# -- fixture apps by target ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "factory", "interface", "description"),
    [
        ("tests.apps.asgi_hello:app", False, "asgi3", "ASGI 3"),
        ("tests.apps.asgi2_hello:app", False, "asgi2", "ASGI 2"),
        ("tests.apps.asgi2_hello:App", False, "asgi2", "ASGI 2"),
        ("tests.apps.wsgi_hello:app", False, "wsgi", "WSGI"),
        ("tests.apps.asgi_factory:create_app", True, "asgi3", "ASGI 3"),
    ],
)
def test_fixture_apps_load(target: str, factory: bool, interface: str, description: str) -> None:
    loaded = load_app(target, factory=factory, app_dir=REPO_ROOT)
    assert loaded.target == target
    assert loaded.interface == interface
    assert loaded.description == description
    assert callable(loaded.obj)


def test_loaded_app_is_frozen() -> None:
    loaded = load_app("tests.apps.wsgi_hello:app", app_dir=REPO_ROOT)
    assert isinstance(loaded, LoadedApp)
    with pytest.raises(AttributeError):
        loaded.interface = "asgi3"  # type: ignore[misc]


def test_factory_result_is_the_app_not_the_factory() -> None:
    loaded = load_app("tests.apps.asgi_factory:create_app", factory=True, app_dir=REPO_ROOT)
    assert loaded.obj is not sys.modules["tests.apps.asgi_factory"].create_app
    assert getattr(loaded.obj, "__name__", None) == "app"


# -- target syntax -------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["hello", "", ":app", "hello:", "a:b:c"])
def test_bad_target_syntax(target: str) -> None:
    error = load_error(target)
    assert 'expected "module:attribute", e.g. "myproject.asgi:application"' in str(error)
    assert not error.show_traceback


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("hello.py:app", 'use the module name, not the file name: "hello:app"'),
        ("src/hello:app", 'use a dotted module name ("src.hello:app") and --app-dir'),
        ("hello:create_app()", 'pass --factory with "hello:create_app"'),
        ("hello:app-1", '"app-1" is not a dotted Python name'),
        ("hello:obj..app", '"obj..app" is not a dotted Python name'),
    ],
)
def test_target_syntax_hints(target: str, expected: str) -> None:
    assert expected in str(load_error(target))


# -- module import -------------------------------------------------------------------------


def test_missing_module_names_the_app_dir(tmp_path: Path) -> None:
    error = load_error("dsl_missing_xyz:app", app_dir=str(tmp_path))
    message = str(error)
    assert 'cannot find module "dsl_missing_xyz"' in message
    assert f'app dir "{tmp_path}"' in message
    assert "--app-dir" in message
    assert not error.show_traceback
    assert error.__cause__ is None


def test_missing_module_without_app_dir_names_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    message = str(load_error("dsl_missing_xyz:app", app_dir=None))
    assert f'the current directory "{os.getcwd()}"' in message


def test_missing_parent_package(tmp_path: Path) -> None:
    message = str(load_error("dsl_nopkg_xyz.sub:app", app_dir=str(tmp_path)))
    assert 'cannot find package "dsl_nopkg_xyz" (needed for module "dsl_nopkg_xyz.sub")' in message


def test_missing_submodule_of_existing_package(make_module: ModuleMaker, tmp_path: Path) -> None:
    pkg = make_module("", package={"real": "app = None\n"})
    error = load_error(f"{pkg}.missing:app", app_dir=str(tmp_path))
    assert f'cannot find module "{pkg}.missing"' in str(error)
    assert not error.show_traceback


def test_missing_import_inside_user_module_shows_traceback() -> None:
    error = load_error("tests.apps.broken_import:app", app_dir=REPO_ROOT)
    assert error.show_traceback
    assert isinstance(error.__cause__, ModuleNotFoundError)
    assert 'importing module "tests.apps.broken_import" failed' in str(error)
    assert "not_a_real_module_xyz" in str(error)


def test_missing_sibling_import_inside_package_is_not_mistaken_for_the_target(
    make_module: ModuleMaker, tmp_path: Path
) -> None:
    pkg = make_module("", package={"views": "from . import not_there_xyz\n"})
    error = load_error(f"{pkg}.views:app", app_dir=str(tmp_path))
    assert error.show_traceback
    assert isinstance(error.__cause__, ImportError)


@pytest.mark.parametrize(
    ("source", "exc_type", "fragment"),
    [
        ("def app(:\n    pass\n", SyntaxError, "SyntaxError"),
        ("app = undefined_name_xyz\n", NameError, "NameError: name 'undefined_name_xyz'"),
        ("from os import no_such_thing_xyz\n", ImportError, "ImportError"),
        ("raise RuntimeError('boom\\nsecond line')\n", RuntimeError, "RuntimeError: boom"),
    ],
)
def test_errors_while_importing_show_traceback(
    make_module: ModuleMaker,
    tmp_path: Path,
    source: str,
    exc_type: type[BaseException],
    fragment: str,
) -> None:
    name = make_module(source)
    error = load_error(f"{name}:app", app_dir=str(tmp_path))
    assert error.show_traceback
    assert isinstance(error.__cause__, exc_type)
    assert fragment in str(error)
    assert "\n" not in str(error)


# -- sys.path ------------------------------------------------------------------------------


def test_app_dir_goes_first_on_sys_path_as_absolute_path(
    make_module: ModuleMaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path.parent)
    name = make_module("def app(environ, start_response):\n    return []\n")
    assert load_app(f"{name}:app", app_dir=tmp_path.name).interface == "wsgi"
    assert sys.path[0] == str(tmp_path)


def test_app_dir_already_on_sys_path_is_not_added_again(
    make_module: ModuleMaker, tmp_path: Path
) -> None:
    name = make_module("def app(environ, start_response):\n    return []\n")
    sys.path.append(str(tmp_path))
    length = len(sys.path)
    load_app(f"{name}:app", app_dir=str(tmp_path))
    assert len(sys.path) == length
    assert sys.path[-1] == str(tmp_path)


def test_app_dir_none_leaves_sys_path_alone() -> None:
    before = list(sys.path)
    load_app("duoserve.app.interface:wrap_asgi2", app_dir=None, interface="asgi3")
    assert sys.path == before


# -- attributes ----------------------------------------------------------------------------


def test_missing_attribute_suggests_close_app(make_module: ModuleMaker, tmp_path: Path) -> None:
    name = make_module(
        """
        async def app(scope, receive, send):
            pass
        """
    )
    error = load_error(f"{name}:ap", app_dir=str(tmp_path))
    assert str(error) == f'module "{name}" has no attribute "ap"; did you mean: app?'


def test_missing_attribute_lists_app_like_names_closest_first(
    make_module: ModuleMaker, tmp_path: Path
) -> None:
    name = make_module(
        """
        from dataclasses import dataclass
        from pathlib import Path

        application = None  # a conventional name, listed even though not callable
        TIMEOUT = 5

        def helper(x, y, z, w):
            pass

        def create_app():
            return application

        def wsgi_entry(environ, start_response):
            return []

        class Api:
            def __init__(self, scope):
                self.scope = scope

            async def __call__(self, receive, send):
                pass
        """
    )
    message = str(load_error(f"{name}:aplication", app_dir=str(tmp_path)))
    assert message.endswith(
        "did you mean: application, Api, create_app (with --factory), wsgi_entry?"
    )
    for not_an_app in ("dataclass", "Path", "TIMEOUT", "helper"):
        assert not_an_app not in message


def test_missing_attribute_with_nothing_app_like(make_module: ModuleMaker, tmp_path: Path) -> None:
    name = make_module("VALUE = 1\n")
    message = str(load_error(f"{name}:app", app_dir=str(tmp_path)))
    assert (
        message
        == f'module "{name}" has no attribute "app", and defines nothing that looks like an app'
    )


def test_dotted_attribute(make_module: ModuleMaker, tmp_path: Path) -> None:
    name = make_module(
        """
        class Holder:
            @staticmethod
            def app(environ, start_response):
                return []

        holder = Holder()
        """
    )
    assert load_app(f"{name}:holder.app", app_dir=str(tmp_path)).interface == "wsgi"
    message = str(load_error(f"{name}:holder.ap", app_dir=str(tmp_path)))
    assert message == f'"{name}:holder.ap": "holder" has no attribute "ap" (it is a Holder)'


def test_dotted_attribute_in_submodule(make_module: ModuleMaker, tmp_path: Path) -> None:
    pkg = make_module(
        "", package={"asgi": "async def application(scope, receive, send):\n    pass\n"}
    )
    assert load_app(f"{pkg}.asgi:application", app_dir=str(tmp_path)).interface == "asgi3"


def test_attribute_access_raising_shows_traceback(make_module: ModuleMaker, tmp_path: Path) -> None:
    name = make_module(
        """
        def __getattr__(name):
            raise RuntimeError("lazy import failed")
        """
    )
    error = load_error(f"{name}:app", app_dir=str(tmp_path))
    assert error.show_traceback
    assert "RuntimeError: lazy import failed" in str(error)


def test_not_callable(make_module: ModuleMaker, tmp_path: Path) -> None:
    name = make_module("app = 'hello'\n")
    message = str(load_error(f"{name}:app", app_dir=str(tmp_path)))
    assert message.startswith(f'"{name}:app" is a str, which is not callable')


def test_module_attribute_is_not_an_app(make_module: ModuleMaker, tmp_path: Path) -> None:
    pkg = make_module("from . import sub\n", package={"sub": "app = None\n"})
    message = str(load_error(f"{pkg}:sub", app_dir=str(tmp_path)))
    assert f'"{pkg}:sub" is a module, not an app' in message
    assert f'"{pkg}.sub:app"' in message


# -- factories -----------------------------------------------------------------------------


def test_factory_without_flag_gets_a_hint() -> None:
    error = load_error("tests.apps.asgi_factory:create_app", app_dir=REPO_ROOT)
    assert "looks like an app factory; pass --factory" in str(error)


def test_factory_with_optional_params_without_flag_gets_a_hint(
    make_module: ModuleMaker, tmp_path: Path
) -> None:
    name = make_module("def make(config=None, debug=False):\n    pass\n")
    assert "--factory" in str(load_error(f"{name}:make", app_dir=str(tmp_path)))


def test_factory_raising_shows_traceback(make_module: ModuleMaker, tmp_path: Path) -> None:
    name = make_module("def create_app():\n    raise KeyError('DATABASE_URL')\n")
    error = load_error(f"{name}:create_app", factory=True, app_dir=str(tmp_path))
    assert error.show_traceback
    assert isinstance(error.__cause__, KeyError)
    assert f'calling the factory "{name}:create_app" failed: KeyError' in str(error)


def test_factory_returning_non_callable(make_module: ModuleMaker, tmp_path: Path) -> None:
    name = make_module("def create_app():\n    return None\n")
    message = str(load_error(f"{name}:create_app", factory=True, app_dir=str(tmp_path)))
    assert f'the factory "{name}:create_app" returned None, not an app' in message


def test_factory_needing_arguments(make_module: ModuleMaker, tmp_path: Path) -> None:
    name = make_module("def create_app(settings):\n    pass\n")
    message = str(load_error(f"{name}:create_app", factory=True, app_dir=str(tmp_path)))
    assert "needs arguments, but --factory calls it with none" in message


def test_async_factory_is_rejected_without_leaking_a_coroutine(
    make_module: ModuleMaker, tmp_path: Path
) -> None:
    # filterwarnings=error turns an un-awaited coroutine warning into a failure.
    name = make_module("async def create_app():\n    pass\n")
    message = str(load_error(f"{name}:create_app", factory=True, app_dir=str(tmp_path)))
    assert "is async" in message
    assert "make it a plain def" in message


def test_factory_flag_on_non_callable(make_module: ModuleMaker, tmp_path: Path) -> None:
    name = make_module("app = 3\n")
    message = str(load_error(f"{name}:app", factory=True, app_dir=str(tmp_path)))
    assert f'"{name}:app" is an int, not a callable, so --factory cannot call it' in message


def test_factory_with_forced_interface() -> None:
    loaded = load_app(
        "tests.apps.asgi_factory:create_app", factory=True, interface="asgi2", app_dir=REPO_ROOT
    )
    assert loaded.interface == "asgi2"


# -- forced interface ----------------------------------------------------------------------


def test_forced_interface_skips_detection(make_module: ModuleMaker, tmp_path: Path) -> None:
    name = make_module("def app(a, b, c, d):\n    pass\n")
    undecided = load_error(f"{name}:app", app_dir=str(tmp_path))
    assert f'"{name}:app": it takes 4 positional arguments' in str(undecided)
    assert "--interface" in str(undecided)
    for interface in ("asgi3", "asgi2", "wsgi"):
        loaded = load_app(f"{name}:app", interface=interface, app_dir=str(tmp_path))
        assert loaded.interface == interface


def test_forced_interface_still_requires_a_callable(
    make_module: ModuleMaker, tmp_path: Path
) -> None:
    name = make_module("app = None\n")
    assert "not callable" in str(load_error(f"{name}:app", interface="wsgi", app_dir=str(tmp_path)))


# -- detection table -----------------------------------------------------------------------


async def asgi3_func(scope: Scope, receive: Receive, send: Send) -> None:
    pass


async def asgi3_with_defaults(
    scope: Scope, receive: Receive, send: Send, debug: bool = False
) -> None:
    pass


async def asgi3_all_defaults(scope: Any = None, receive: Any = None, send: Any = None) -> None:
    pass


async def asgi3_with_config(config: object, scope: Scope, receive: Receive, send: Send) -> None:
    pass


def asgi3_sync_returning_coroutine(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
    return asgi3_func(scope, receive, send)


def asgi3_sync_optional_names(scope: Scope, receive: Any = None, send: Any = None) -> Any:
    return None


class StarletteLike:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pass

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        pass


class SyncCallReturningCoroutine:
    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        return asgi3_func(scope, receive, send)


class EndpointLike:
    """Old Starlette endpoints: the class is called with all three and awaited."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope

    def __await__(self) -> Generator[Any, None, None]:
        yield from ()


class ASGI2Class:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(self, receive: Receive, send: Send) -> None:
        pass


class ASGI2SyncCall:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def __call__(self, receive: Receive, send: Send) -> Awaitable[None]:
        return asgi3_func(self.scope, receive, send)


def asgi2_closure(scope: Scope) -> Callable[[Receive, Send], Awaitable[None]]:
    async def instance(receive: Receive, send: Send) -> None:
        pass

    return instance


def asgi2_with_config(config: object, scope: Scope) -> ASGI2Class:
    return ASGI2Class(scope)


def wsgi_func(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    return []


def wsgi_with_config(config: object, environ: dict[str, Any], start_response: Any) -> list[bytes]:
    return []


def wsgi_with_optional_extra(environ: Any, start_response: Any, extra: Any = None) -> list[bytes]:
    return []


def wsgi_varargs(*args: Any) -> list[bytes]:
    return []


def wsgi_varargs_kwargs(*args: Any, **kwargs: Any) -> list[bytes]:
    return []


class DjangoLikeWSGIHandler:
    """Shape of django.core.handlers.wsgi.WSGIHandler."""

    request_class = object

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, environ: Any, start_response: Any) -> list[bytes]:
        return []


class FlaskLike:
    """Shape of flask.Flask: an annotated __call__ that forwards to wsgi_app."""

    def __init__(self, import_name: str) -> None:
        self.import_name = import_name

    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return self.wsgi_app(environ, start_response)


class PEP3333AppClass:
    """The PEP 3333 example: the class is the app, its instances are the response iterable."""

    def __init__(self, environ: Any, start_response: Any) -> None:
        self.start = start_response

    def __iter__(self) -> Iterator[bytes]:
        yield b""


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(asgi3_func, "asgi3", id="async-def"),
        pytest.param(asgi3_with_defaults, "asgi3", id="async-def-extra-default"),
        pytest.param(asgi3_all_defaults, "asgi3", id="async-def-all-defaults"),
        pytest.param(functools.partial(asgi3_with_config, {}), "asgi3", id="partial-async"),
        pytest.param(
            functools.partial(functools.partial(asgi3_with_config, {})), "asgi3", id="partial-x2"
        ),
        pytest.param(asgi3_sync_returning_coroutine, "asgi3", id="def-returning-coroutine"),
        pytest.param(asgi3_sync_optional_names, "asgi3", id="def-scope-receive-send-defaults"),
        pytest.param(StarletteLike(), "asgi3", id="starlette-like-instance"),
        pytest.param(StarletteLike().handle, "asgi3", id="bound-async-method"),
        pytest.param(functools.partial(StarletteLike()), "asgi3", id="partial-of-instance"),
        pytest.param(SyncCallReturningCoroutine(), "asgi3", id="sync-__call__-coroutine"),
        pytest.param(EndpointLike, "asgi3", id="endpoint-class-awaitable"),
        pytest.param(wrap_asgi2(ASGI2Class), "asgi3", id="wrapped-asgi2"),
        pytest.param(ASGI2Class, "asgi2", id="asgi2-class"),
        pytest.param(ASGI2SyncCall, "asgi2", id="asgi2-class-sync-call"),
        pytest.param(asgi2_closure, "asgi2", id="asgi2-closure"),
        pytest.param(functools.partial(asgi2_with_config, {}), "asgi2", id="partial-asgi2"),
        pytest.param(wsgi_func, "wsgi", id="wsgi-func"),
        pytest.param(functools.partial(wsgi_with_config, {}), "wsgi", id="partial-wsgi"),
        pytest.param(wsgi_with_optional_extra, "wsgi", id="wsgi-optional-extra"),
        pytest.param(wsgi_varargs, "wsgi", id="wsgi-varargs"),
        pytest.param(wsgi_varargs_kwargs, "wsgi", id="wsgi-varargs-kwargs"),
        pytest.param(DjangoLikeWSGIHandler(), "wsgi", id="django-like-wsgi-handler"),
        pytest.param(FlaskLike("x"), "wsgi", id="flask-like-instance"),
        pytest.param(FlaskLike("x").wsgi_app, "wsgi", id="bound-wsgi-method"),
        pytest.param(PEP3333AppClass, "wsgi", id="pep3333-app-class"),
    ],
)
def test_detect_interface(obj: object, expected: str) -> None:
    assert detect_interface(obj) == expected


async def asgi2_inner_only(receive: Receive, send: Send) -> None:
    pass


async def async_one_arg(scope: Scope) -> None:
    pass


def four_args(a: object, b: object, c: object, d: object) -> None:
    pass


def no_args() -> None:
    pass


def kw_required(environ: Any, start_response: Any, *, key: str) -> None:
    pass


class OneArgNotCallable:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope


@pytest.mark.parametrize(
    ("obj", "fragment"),
    [
        pytest.param(asgi2_inner_only, "takes (receive, send)", id="asgi2-inner"),
        pytest.param(ASGI2Class({}), "takes (receive, send)", id="asgi2-instance"),
        pytest.param(async_one_arg, "async but it takes 1 positional arguments", id="async-1"),
        pytest.param(four_args, "it takes 4 positional arguments", id="four"),
        pytest.param(no_args, "looks like an app factory; pass --factory", id="zero"),
        pytest.param(kw_required, "requires keyword-only arguments", id="kw-only"),
        pytest.param(OneArgNotCallable, "instances are not callable", id="class-no-call"),
        pytest.param(iter, "signature cannot be inspected", id="no-signature"),
        pytest.param(42, "it is an int, which is not callable", id="int"),
    ],
)
def test_detect_interface_undecidable(obj: object, fragment: str) -> None:
    with pytest.raises(AppLoadError) as info:
        detect_interface(obj)
    message = str(info.value)
    assert fragment in message
    assert "--interface" in message
    assert not info.value.show_traceback


def test_undecidable_message_describes_the_object() -> None:
    with pytest.raises(AppLoadError, match=r'^class "[\w.]+OneArgNotCallable": it is a class'):
        detect_interface(OneArgNotCallable)
    with pytest.raises(AppLoadError, match=r"^functools.partial of function "):
        detect_interface(functools.partial(four_args))


# -- real frameworks (optional: need django / flask installed) -----------------------------


def test_django_handlers() -> None:
    pytest.importorskip("django")
    from django.conf import settings

    if not settings.configured:
        settings.configure()
    from django.core.handlers.asgi import ASGIHandler
    from django.core.handlers.wsgi import WSGIHandler

    assert detect_interface(WSGIHandler()) == "wsgi"
    assert detect_interface(ASGIHandler()) == "asgi3"


def test_flask_app() -> None:
    flask = pytest.importorskip("flask")
    assert detect_interface(flask.Flask(__name__)) == "wsgi"


# -- running the ASGI 2 adapter and the fixture apps ---------------------------------------


class Recorder:
    """receive() replays `incoming`; send() records everything the app sends."""

    def __init__(self, incoming: list[Message]) -> None:
        self.incoming = list(incoming)
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        return self.incoming.pop(0)

    async def send(self, message: Message) -> None:
        self.sent.append(message)


class EchoASGI2:
    def __init__(self, scope: Scope) -> None:
        self.path = scope["path"]

    async def __call__(self, receive: Receive, send: Send) -> None:
        request = await receive()
        body = self.path.encode() + b" " + request["body"]
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": body})


HTTP_SCOPE: dict[str, Any] = {"type": "http", "path": "/echo", "method": "POST", "headers": []}
REQUEST: Message = {"type": "http.request", "body": b"payload", "more_body": False}


@pytest.mark.parametrize("backend", BACKENDS)
def test_wrap_asgi2_runs_the_app(backend: str) -> None:
    wrapped = wrap_asgi2(EchoASGI2)
    assert detect_interface(wrapped) == "asgi3"
    recorder = Recorder([REQUEST])
    anyio.run(wrapped, dict(HTTP_SCOPE), recorder.receive, recorder.send, backend=backend)
    assert recorder.sent == [
        {"type": "http.response.start", "status": 201, "headers": []},
        {"type": "http.response.body", "body": b"/echo payload"},
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_wrap_asgi2_fixture_app(backend: str) -> None:
    loaded = load_app("tests.apps.asgi2_hello:app", app_dir=REPO_ROOT)
    wrapped = wrap_asgi2(loaded.obj)  # type: ignore[arg-type]
    recorder = Recorder([REQUEST])
    anyio.run(wrapped, dict(HTTP_SCOPE), recorder.receive, recorder.send, backend=backend)
    assert recorder.sent[0]["status"] == 200
    assert recorder.sent[1]["body"] == b"Hello, world!"


@pytest.mark.parametrize("backend", BACKENDS)
def test_asgi_hello_serves_http_and_lifespan(backend: str) -> None:
    app = load_app("tests.apps.asgi_hello:app", app_dir=REPO_ROOT).obj
    lifespan = Recorder([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    http = Recorder([REQUEST])

    async def main() -> None:
        await app({"type": "lifespan"}, lifespan.receive, lifespan.send)  # type: ignore[operator]
        await app(dict(HTTP_SCOPE), http.receive, http.send)  # type: ignore[operator]

    anyio.run(main, backend=backend)
    assert [m["type"] for m in lifespan.sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    assert http.sent[0]["status"] == 200
    assert (b"content-type", b"text/plain; charset=utf-8") in http.sent[0]["headers"]
    assert http.sent[1]["body"] == b"Hello, world!"
