"""The `duoserve` command: argparse generated from the Config fields, and the entry point.

An argparse parser generated from the Config fields, and the entry point that turns a
newcomer's mistakes into one clear line."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from .config.declare import flag_name
from .config.registry import choices, env_name, field_type, iter_sections, meta
from .config.settings import Config, fields
from .config.sources import from_sources, parse_value
from .errors import AppLoadError, DuoserveError
from .version import __version__

PROG = "duoserve"


@dataclass(frozen=True, slots=True)
class Options:
    """Command-line flags that are not settings."""

    check: bool = False
    config_file: str | None = None


class _Value(argparse.Action):
    """Store a flag's value parsed by the setting's own parser (one error style for all)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        f = next(f for f in fields() if f.name == self.dest)
        try:
            value = parse_value(f, values, option_string or f.name)
        except DuoserveError as exc:
            parser.error(str(exc))
        if self.nargs is None and typing_is_tuple(f):
            value = (*getattr(namespace, self.dest, ()), *value)
        setattr(namespace, self.dest, value)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line and exit status 1, like every other startup error."""
        self.exit(1, f"{PROG}: error: {message} (see {PROG} --help)\n")


def _metavar(f: Any) -> str:
    m = meta(f)
    allowed = choices(f)
    if m.metavar:
        return m.metavar
    if allowed:
        return "{" + ",".join(allowed) + "}"
    if m.unit == "s":
        return "SECONDS"
    if m.unit == "bytes":
        return "BYTES"
    return "N" if field_type(f) is int else "TEXT"


def typing_is_tuple(f: Any) -> bool:
    return getattr(field_type(f), "__origin__", None) is tuple


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Serve an ASGI or WSGI app over HTTP/1.1 and WebSocket.",
        epilog="Every setting can also be set as an environment variable (shown in brackets) "
        "or in a TOML file; precedence: flags > environment > file > defaults.",
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="TOML config file (default: [tool.duoserve] in ./pyproject.toml when present)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="load the config and the app, report what would be served, and exit",
    )
    for section, section_fields in iter_sections():
        group = parser.add_argument_group(section)
        for f in section_fields:
            m = meta(f)
            default = f.default
            shown = show_default(default, m.unit)
            help_text = f"{m.help} (default: {shown}) [{env_name(f)}]"
            if m.positional:
                group.add_argument(f.name, nargs="?", metavar=m.metavar, help=m.help, action=_Value)
            elif field_type(f) is bool:
                group.add_argument(
                    flag_name(f), dest=f.name, help=help_text, action=argparse.BooleanOptionalAction
                )
            else:
                group.add_argument(
                    flag_name(f), dest=f.name, help=help_text, action=_Value, metavar=_metavar(f)
                )
    return parser


def show_default(default: Any, unit: str) -> str:
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, tuple):
        return ", ".join(default) or "none"
    if default == "":
        return "none"
    return (
        f"{default:g} {unit}".strip() if isinstance(default, float) else f"{default} {unit}".strip()
    )


def parse_config(argv: Sequence[str], environ: Mapping[str, str]) -> tuple[Config, Options]:
    """Parse the command line and merge it with the environment and config file."""
    namespace = vars(build_parser().parse_args(list(argv)))
    options = Options(
        check=bool(namespace.pop("check", False)), config_file=namespace.pop("config", None)
    )
    config = from_sources(namespace, environ, config_file=options.config_file, cwd=os.getcwd())
    return config, options


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Console entry point: exit status 0 on a clean stop, 1 on any startup error."""
    try:
        config, options = parse_config(sys.argv[1:] if argv is None else argv, os.environ)
        if not config.app:
            raise AppLoadError("no app given; usage: duoserve module:attribute")
        if options.check:
            sys.exit(_check(config))
        from .runner import run_config

        sys.exit(run_config(config))
    except DuoserveError as exc:
        if isinstance(exc, AppLoadError) and exc.show_traceback and exc.__cause__ is not None:
            traceback.print_exception(exc.__cause__, file=sys.stderr)
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(1)


def _check(config: Config) -> int:
    from .app.resolve import describe, resolve_app
    from .net.sockets import describe_binds
    from .net.tls import https_url

    loaded = resolve_app(config, None)
    for address in describe_binds(config):
        url = https_url(address, config)
        print(f"{PROG} {__version__} would serve {describe(loaded, config)} on {url}")
    return 0
