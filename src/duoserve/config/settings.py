"""Every setting declared once: the frozen Config, whose fields make the CLI, env, TOML and docs.

Each field's metadata (config/declare.py) is its presentation; the checks across settings
and the values derived from them are Config's base class (config/checks.py)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from .checks import ConfigRules
from .declare import setting

Interface = Literal["auto", "asgi3", "asgi2", "wsgi"]
LifespanMode = Literal["auto", "on", "off"]
Backend = Literal["asyncio", "trio"]
LoopChoice = Literal["auto", "asyncio", "uvloop"]
HTTPChoice = Literal["auto", "h11", "httptools"]
HTTP2Choice = Literal["auto", "on", "off"]
LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]
WSChoice = Literal["auto", "wsproto", "none"]
WSShutdown = Literal["graceful", "immediate"]
ChunkedInput = Literal["buffer", "stream"]
ProxyHeadersFormat = Literal["x-forwarded", "forwarded"]
ProxyProtocol = Literal["off", "v1", "v2", "auto"]
CertReqs = Literal["none", "optional", "required"]
LogFormat = Literal["text", "json"]

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Config(ConfigRules):
    """Every knob of the server. Immutable: build a new one with dataclasses.replace()."""

    # -- application ---------------------------------------------------------
    app: str = setting(
        "",
        "The app to serve, as 'module:attribute' (dotted attributes allowed).",
        "Application",
        positional=True,
        metavar="APP",
    )
    interface: Interface = setting(
        "auto",
        "App interface; 'auto' detects ASGI 3, ASGI 2 or WSGI from the object.",
        "Application",
    )
    factory: bool = setting(
        False,
        "Treat APP as a factory: call it with no arguments to get the app.",
        "Application",
    )
    app_dir: str = setting(
        ".",
        "Directory put first on sys.path before importing APP.",
        "Application",
        metavar="DIR",
    )
    root_path: str = setting(
        "",
        "ASGI root_path / WSGI SCRIPT_NAME for an app mounted below a URL prefix.",
        "Application",
        metavar="PATH",
    )
    lifespan: LifespanMode = setting(
        "auto",
        "ASGI lifespan: 'auto' runs it and tolerates apps that do not support it; "
        "'on' requires it; 'off' skips it.",
        "Application",
    )
    timeout_lifespan: float = setting(
        60.0,
        "Seconds the app may take for lifespan startup, and again for shutdown.",
        "Application",
        unit="s",
    )

    # -- mixed serving -------------------------------------------------------------
    ws_app: str = setting(
        "",
        "A second app, 'module:attribute', that takes the WebSocket connections and the "
        "lifespan while plain HTTP goes to APP (e.g. a Django project's asgi.py beside "
        "its wsgi.py).",
        "Mixed serving",
        metavar="APP",
    )
    mount: tuple[str, ...] = setting(
        (),
        "Serve another app below a path prefix, '/prefix=module:attribute', repeatable; "
        "its interface is detected on its own and it sees the prefix as its ASGI "
        "root_path / WSGI SCRIPT_NAME.",
        "Mixed serving",
        metavar="PREFIX=APP",
    )

    # -- binding ---------------------------------------------------------------
    host: str = setting(
        "127.0.0.1",
        "Interface to bind. With no --host/--port/--bind and $PORT set, "
        "duoserve binds 0.0.0.0:$PORT (the Heroku convention).",
        "Binding",
    )
    port: int = setting(8000, "TCP port to bind (0 picks a free port).", "Binding")
    bind: tuple[str, ...] = setting(
        (),
        "Address to bind, repeatable: HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N. "
        "Overrides --host/--port.",
        "Binding",
        metavar="ADDRESS",
    )
    backlog: int = setting(2048, "Listen backlog of each socket.", "Binding")

    # -- runtime -----------------------------------------------------------------
    backend: Backend = setting("asyncio", "Async backend the server runs on.", "Runtime")
    loop: LoopChoice = setting(
        "auto",
        "Event loop for the asyncio backend; 'auto' uses uvloop when installed.",
        "Runtime",
    )
    http: HTTPChoice = setting(
        "auto",
        "HTTP/1.1 parser; 'auto' uses httptools when installed (pip install "
        "'duoserve[speed]'). Both give the same answers; httptools is faster.",
        "Runtime",
    )

    # -- HTTP/2 (docs/http2.md): each bound becomes part of http2.limits.H2Limits -----------
    http2: HTTP2Choice = setting(
        "auto",
        "HTTP/2: by ALPN over TLS, by prior knowledge or Upgrade: h2c in cleartext; 'auto' "
        "serves it when h2 is installed (pip install 'duoserve[http2]').",
        "HTTP/2",
    )
    h2_max_concurrent_streams: int = setting(
        100, "Streams one HTTP/2 connection may have in progress; more are refused.", "HTTP/2"
    )
    h2_max_header_list_size: int = setting(
        65_536,
        "Bytes of one HTTP/2 header list, as HPACK decodes it (a bomb stops here).",
        "HTTP/2",
        unit="bytes",
    )
    h2_header_table_size: int = setting(
        4096,
        "Bytes of each HPACK dynamic table (the client's and ours) an HTTP/2 connection keeps.",
        "HTTP/2",
        unit="bytes",
    )
    h2_max_frame_size: int = setting(
        16_384, "Largest HTTP/2 frame payload accepted (16384..16777215).", "HTTP/2", unit="bytes"
    )
    h2_stream_buffer: int = setting(
        256 * 1024,
        "Request-body bytes one HTTP/2 stream may have unread: its widest flow-control "
        "window (each starts at 65535 and grows while its app reads).",
        "HTTP/2",
        unit="bytes",
    )
    h2_connection_buffer: int = setting(
        8 * MiB,
        "Request-body bytes one HTTP/2 connection may have unread over all its streams; "
        "65535 of it is kept for each stream --h2-max-concurrent-streams allows.",
        "HTTP/2",
        unit="bytes",
    )
    h2_control_frames_per_second: int = setting(
        200,
        "SETTINGS, PING, PRIORITY, WINDOW_UPDATE and empty frames a client may send per "
        "second (plus one per DATA frame we send); past it: GOAWAY ENHANCE_YOUR_CALM.",
        "HTTP/2",
    )
    h2_reset_burst: int = setting(
        200,
        "RST_STREAM frames a client may send at once (rapid reset); past it: GOAWAY "
        "ENHANCE_YOUR_CALM.",
        "HTTP/2",
    )
    h2_resets_per_second: int = setting(
        50, "How fast the --h2-reset-burst budget refills.", "HTTP/2"
    )

    # -- timeouts ------------------------------------------------------------------
    timeout_keep_alive: float = setting(
        5.0,
        "Seconds an idle keep-alive connection waits for its next request.",
        "Timeouts",
        unit="s",
    )
    timeout_request_head: float = setting(
        10.0,
        "Seconds allowed to receive a whole request head once it starts "
        "(slow-header protection); past it: 408 and close.",
        "Timeouts",
        unit="s",
    )
    timeout_io: float = setting(
        60.0,
        "Seconds a request may wait on a stalled client: for the next piece of its body "
        "(then 408 and the app sees http.disconnect), or for the client to take response "
        "bytes. Past it the connection (over HTTP/2, the stream) closes.",
        "Timeouts",
        unit="s",
    )
    timeout_graceful_shutdown: float = setting(
        30.0,
        "Seconds in-flight requests get to finish on shutdown; then they are cancelled, their "
        "connections closed, and the process exits with status 4.",
        "Timeouts",
        unit="s",
    )

    shutdown_delay: float = setting(
        0.0,
        "Seconds between SIGTERM and the graceful stop: /readyz fails at once while the "
        "server goes on accepting, so load balancers (a Kubernetes Service) take it out of "
        "rotation before it stops listening. A second SIGTERM stops at once. 0 = no delay.",
        "Timeouts",
        unit="s",
    )

    # -- limits ------------------------------------------------------------------------
    limit_connections: int = setting(
        4096,
        "Open connections per worker; beyond it new connections wait in the listen backlog.",
        "Limits",
    )
    limit_concurrency: int = setting(
        0,
        "Requests handled at once per worker; beyond it: 503. 0 = no limit "
        "(--limit-connections still bounds it).",
        "Limits",
    )
    limit_request_line: int = setting(
        8190,
        "Longest request line; beyond it: 414.",
        "Limits",
        unit="bytes",
    )
    limit_request_head: int = setting(
        32768,
        "Largest request head (request line and headers); beyond it: 431.",
        "Limits",
        unit="bytes",
    )
    limit_request_fields: int = setting(
        100,
        "Most header fields in a request head; beyond it: 431.",
        "Limits",
    )
    limit_request_body: int = setting(
        0,
        "Largest request body; beyond it: 413, checked against Content-Length up front "
        "and while streaming. 0 = no limit (bodies are streamed, never buffered).",
        "Limits",
        unit="bytes",
    )

    # -- logging and headers ---------------------------------------------------------
    log_level: LogLevel = setting("info", "Log level of the duoserve loggers.", "Logging")
    access_log: bool = setting(True, "Log one line per request.", "Logging")
    server_header: bool = setting(True, "Send 'Server: duoserve'.", "Logging")
    date_header: bool = setting(True, "Send a 'Date' header.", "Logging")

    # -- log formats, request ids and static files (docs/logging.md, docs/static-files.md)
    log_format: LogFormat = setting(
        "text",
        "Server and access log lines as plain 'text' or 'json' (one object per line).",
        "Logging",
    )
    access_log_format: str = setting(
        '{client} - "{method} {target} HTTP/{http_version}" {status} {bytes} {duration_ms:.1f}ms',
        "Access log line as a Python format string over named fields: client, client_ip, "
        "method, path, query, target, http_version, status, bytes, duration, duration_ms, "
        "user_agent, referer, request_id, worker, interface.",
        "Logging",
        metavar="FORMAT",
    )
    log_config: str = setting(
        "",
        "Configure logging from this file instead (logging.config.dictConfig as .json or "
        ".toml; fileConfig as .ini/.conf/.cfg).",
        "Logging",
        metavar="FILE",
    )
    request_id: bool = setting(
        False,
        "Propagate a valid incoming X-Request-ID (else generate one), pass it to the app, "
        "echo it in the response and put it in the access log.",
        "Logging",
    )
    static: tuple[str, ...] = setting(
        (),
        "Serve the files of DIRECTORY under a URL prefix, repeatable: /static=./staticfiles. "
        "Requests under the prefix never reach the app.",
        "Static files",
        metavar="PREFIX=DIRECTORY",
    )
    static_cache_control: str = setting(
        "no-cache",
        "Cache-Control header of static files ('' sends none). For hashed file names "
        "(Django's ManifestStaticFilesStorage): 'public, max-age=31536000, immutable'.",
        "Static files",
        metavar="VALUE",
    )

    # -- websocket -----------------------------------------------------------------------
    ws: WSChoice = setting(
        "auto",
        "WebSocket support; 'none' answers upgrade requests as plain HTTP.",
        "WebSocket",
    )
    ws_max_size: int = setting(
        16 * MiB,
        "Largest WebSocket message; beyond it the connection closes with 1009.",
        "WebSocket",
        unit="bytes",
    )
    ws_max_queue: int = setting(
        32,
        "Received messages queued for the app before reading from the socket stops.",
        "WebSocket",
    )
    ws_ping_interval: float = setting(
        20.0,
        "Seconds between server pings; 0 disables pings.",
        "WebSocket",
        unit="s",
    )
    ws_ping_timeout: float = setting(
        20.0,
        "Seconds to wait for a pong before closing a dead peer.",
        "WebSocket",
        unit="s",
    )
    ws_per_message_deflate: bool = setting(
        True,
        "Negotiate permessage-deflate compression when the client offers it.",
        "WebSocket",
    )
    ws_close_timeout: float = setting(
        5.0,
        "Seconds to wait for the peer's close frame after sending one.",
        "WebSocket",
        unit="s",
    )
    ws_shutdown: WSShutdown = setting(
        "graceful",
        "On shutdown, close open WebSockets (1001) after the graceful timeout "
        "('graceful') or at once ('immediate').",
        "WebSocket",
    )

    # -- wsgi -------------------------------------------------------------------------------
    threads: int = setting(
        16,
        "Threads running WSGI requests per worker; further requests wait for one.",
        "WSGI",
    )
    wsgi_chunked_input: ChunkedInput = setting(
        "buffer",
        "Chunked request bodies to WSGI apps: 'buffer' them (memory, then a "
        "temporary file) and set CONTENT_LENGTH, or 'stream' them with "
        "wsgi.input_terminated.",
        "WSGI",
    )
    wsgi_input_spool: int = setting(
        1 * MiB,
        "Bytes of a buffered chunked body kept in memory before spooling to disk.",
        "WSGI",
        unit="bytes",
    )

    # -- workers -----------------------------------------------------------------------------
    workers: int = setting(
        1,
        "Worker processes serving the sockets; $WEB_CONCURRENCY, when set, replaces the "
        "default. A supervisor process runs them, replacing any that crash or block.",
        "Workers",
    )
    single_process: bool = setting(
        False,
        "Serve in this one process, without a supervisor: no crash recovery or watchdog "
        "(SIGHUP still reloads). Only with one worker and no recycling, --reload, --preload, "
        "--reuse-port or --pid.",
        "Workers",
    )
    reuse_port: bool = setting(
        False,
        "Give each worker its own SO_REUSEPORT socket on the TCP addresses, so the kernel "
        "balances connections (Linux); otherwise workers share the inherited sockets.",
        "Workers",
    )
    preload: bool = setting(
        False,
        "Import the app once in the main process before starting workers (copy-on-write "
        "memory); after a SIGHUP reload, workers import it afresh.",
        "Workers",
    )
    timeout_worker: float = setting(
        60.0,
        "Seconds a worker's event loop may go without a heartbeat before the worker is "
        "killed and replaced; 0 = no watchdog.",
        "Workers",
        unit="s",
    )
    max_requests: int = setting(
        0,
        "Requests after which a worker is replaced (the new one starts first); 0 = never.",
        "Workers",
    )
    max_requests_jitter: int = setting(
        0,
        "Random extra requests (0 to N) added to --max-requests per worker, so workers do "
        "not restart together.",
        "Workers",
    )
    max_worker_memory: int = setting(
        0,
        "Resident memory beyond which a worker is replaced; 0 = no limit.",
        "Workers",
        unit="bytes",
    )
    max_worker_lifetime: float = setting(
        0.0,
        "Seconds after which a worker is replaced, plus up to 10% random jitter; 0 = never.",
        "Workers",
        unit="s",
    )
    reload: bool = setting(
        False,
        "Development: restart the workers when source files change (watchfiles when "
        "installed, else polling); a file that fails to import keeps the old code serving.",
        "Workers",
    )
    reload_dir: tuple[str, ...] = setting(
        (),
        "Directory watched by --reload, repeatable (default: the app dir).",
        "Workers",
        metavar="DIR",
    )
    reload_include: tuple[str, ...] = setting(
        ("*.py",),
        "Glob of file names that trigger --reload, repeatable.",
        "Workers",
        metavar="GLOB",
    )
    reload_exclude: tuple[str, ...] = setting(
        (".*", "__pycache__", "*.pyc", "*~"),
        "Glob of file or directory names --reload ignores, repeatable.",
        "Workers",
        metavar="GLOB",
    )
    pid: str = setting(
        "",
        "Write the main process id to this file (removed on exit).",
        "Workers",
        metavar="FILE",
    )

    # -- metrics and health (docs/metrics.md) -----------------------------------------
    metrics_bind: str = setting(
        "",
        "Serve /metrics (Prometheus text), /healthz and /readyz on this separate HOST:PORT, "
        "from the supervisor (one view of all workers; in-process with --single-process). "
        "'' = off: then metrics cost nothing per request.",
        "Metrics",
        metavar="HOST:PORT",
    )
    statsd_host: str = setting(
        "",
        "Send the same metrics to a StatsD server at HOST:PORT over UDP (counters as "
        "increments, gauges as values), every --statsd-interval; '' = off.",
        "Metrics",
        metavar="HOST:PORT",
    )
    statsd_prefix: str = setting(
        "",
        "Prefix of the StatsD metric names (a '.' is added): PREFIX.duoserve.requests.",
        "Metrics",
        metavar="PREFIX",
    )
    dogstatsd_tags: tuple[str, ...] = setting(
        (),
        "DogStatsD tags added to every StatsD metric, comma-separated or repeatable "
        "('env:prod,service:web'); when given, labels go out as tags too instead of "
        "inside the metric names.",
        "Metrics",
        metavar="TAGS",
    )
    statsd_interval: float = setting(
        10.0,
        "Seconds between StatsD flushes (between 0.1 and 3600).",
        "Metrics",
        unit="s",
    )

    # -- proxies and TLS (network edge) ----------------------------------------------
    proxy_headers: bool = setting(
        True,
        "Take the client address, scheme, host and prefix from proxy headers, only when the "
        "peer is in --forwarded-allow-ips.",
        "Proxies",
    )
    proxy_headers_format: ProxyHeadersFormat = setting(
        "x-forwarded",
        "Which proxy headers to read: 'x-forwarded' (X-Forwarded-For/-Proto/-Host/-Port/-Prefix, "
        "what nginx and most load balancers set) or 'forwarded' (RFC 7239). The other family "
        "is ignored, since proxies pass it through from the client unchanged.",
        "Proxies",
    )
    forwarded_allow_ips: tuple[str, ...] = setting(
        ("127.0.0.1", "::1", "unix"),
        "Trusted proxies: IP addresses, CIDR networks, 'unix' (Unix-socket peers) or '*' "
        "(everyone). Comma-separated or repeatable.",
        "Proxies",
        metavar="IPS",
    )
    proxy_protocol: ProxyProtocol = setting(
        "off",
        "Expect a HAProxy PROXY protocol header (v1 text, v2 binary; 'auto' accepts either or "
        "none) at the start of each connection, from peers in --forwarded-allow-ips only.",
        "Proxies",
    )
    timeout_proxy_protocol: float = setting(
        5.0,
        "Seconds allowed to receive the PROXY protocol header; past it the connection closes.",
        "Proxies",
        unit="s",
    )
    limit_connections_per_ip: int = setting(
        0,
        "Open connections per client address per worker (the socket peer, or the PROXY "
        "protocol address; never a header); beyond it: 503 and close. 0 = no limit.",
        "Limits",
    )
    ssl_certfile: str = setting(
        "", "Serve HTTPS: the certificate chain (PEM).", "TLS", metavar="FILE"
    )
    ssl_keyfile: str = setting(
        "", "The private key (PEM); default: inside --ssl-certfile.", "TLS", metavar="FILE"
    )
    ssl_keyfile_password: str = setting(
        "",
        "Password of an encrypted key (prefer the environment variable to the flag).",
        "TLS",
        metavar="PASSWORD",
    )
    ssl_ca_certs: str = setting(
        "",
        "CA certificates (PEM) that client certificates are checked against.",
        "TLS",
        metavar="FILE",
    )
    ssl_cert_reqs: CertReqs = setting(
        "none", "Client certificates: not asked for, optional, or required.", "TLS"
    )
    ssl_ciphers: str = setting(
        "",
        "OpenSSL cipher list for TLS 1.2 (default: Python's secure defaults).",
        "TLS",
        metavar="CIPHERS",
    )
    timeout_tls_handshake: float = setting(
        10.0,
        "Seconds allowed for the TLS handshake; past it the connection closes.",
        "TLS",
        unit="s",
    )


def fields() -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(Config)
