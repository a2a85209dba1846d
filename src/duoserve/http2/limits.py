"""The bounds of one HTTP/2 connection: what we advertise in SETTINGS and what the guard counts.

Each field is a `--h2-*` setting (config.settings); `limits_from_config` maps them.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from ..config.settings import Config
from ..errors import StartupError

# RFC 9113 §6.5.2 and §6.9.1: protocol floors and ceilings the settings must respect.
DEFAULT_WINDOW = 65_535
MIN_FRAME_SIZE = 16_384
MAX_FRAME_SIZE = 2**24 - 1
MAX_WINDOW = 2**31 - 1


@dataclass(frozen=True, slots=True)
class H2Limits:
    """Bounds for one HTTP/2 connection. Every one caps memory or work a client can cause."""

    max_concurrent_streams: int = 100
    """SETTINGS_MAX_CONCURRENT_STREAMS: request cycles one connection may run at once (each
    holds an app task and buffers). Streams beyond it are refused with REFUSED_STREAM, which
    tells the client it may retry them. Setting: `--h2-max-concurrent-streams`."""

    max_header_list_size: int = 65_536
    """SETTINGS_MAX_HEADER_LIST_SIZE, counted as RFC 9113 §6.5.2 does (name + value + 32 per
    field) while HPACK decodes, so a small block that inflates (an HPACK bomb) stops at this
    many bytes with ENHANCE_YOUR_CALM. The encoded block is bounded by it too (see
    `header_block_budget`). Setting: `--h2-max-header-list-size`."""

    header_table_size: int = 4_096
    """SETTINGS_HEADER_TABLE_SIZE: the HPACK dynamic table the client's encoder may make us
    keep per connection (RFC 7541 §4.2); a larger table-size update is a COMPRESSION_ERROR.
    Our own encoder's table is bounded by it too, whatever larger size the client allows
    (`tables.ServerEncoder`). Setting: `--h2-header-table-size`."""

    max_frame_size: int = MIN_FRAME_SIZE
    """SETTINGS_MAX_FRAME_SIZE: the largest frame payload accepted. A longer frame is refused
    from its 9-byte header with FRAME_SIZE_ERROR, before any of it is buffered (h2 alone
    would buffer up to 16 MiB first). Setting: `--h2-max-frame-size`."""

    stream_receive_buffer: int = 256 * 1024
    """Request-body bytes one stream may have received but the app not yet taken: its widest
    flow-control window. Every stream starts at 65,535 (the protocol's default, which a
    client may use before it has read our SETTINGS) and grows to this as its app reads,
    while the connection's pool has room (`flow.FlowBudget`). Setting: `--h2-stream-buffer`."""

    connection_receive_buffer: int = 8 * 1024 * 1024
    """Request-body bytes one connection may have unread over all its streams. 65,535 of it
    is kept for each of `max_concurrent_streams` (so with fewer bytes than that, the bound
    is that product); the rest is the pool stream windows grow from. It is also the
    connection's flow-control window, whose credit goes back on receipt: one stream's
    unread body never stalls the others. A client that sends past a window gets
    FLOW_CONTROL_ERROR. Setting: `--h2-connection-buffer`."""

    control_frames_per_second: int = 200
    """Budget (a token bucket holding one second's worth) for frames that cost us work but
    carry no request: SETTINGS, PING, PRIORITY, WINDOW_UPDATE, GOAWAY, unknown types, empty
    DATA without END_STREAM and empty CONTINUATION (CVE-2019-9512/9515/9518 floods). Each
    DATA frame we send adds one token, since clients answer data with WINDOW_UPDATEs and
    BDP PINGs. Exhausted: GOAWAY ENHANCE_YOUR_CALM. Future setting:
    `--h2-control-frames-per-second`."""

    reset_burst: int = 200
    """Rapid-reset budget (CVE-2023-44487): RST_STREAM frames a client may send at once. Two
    per concurrent stream: a browser leaving a page cancels everything it has open.
    Exhausted: GOAWAY ENHANCE_YOUR_CALM. Setting: `--h2-reset-burst`."""

    resets_per_second: int = 50
    """How fast the rapid-reset budget refills. Setting: `--h2-resets-per-second`."""

    websocket: bool = False
    """SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441): WebSockets by extended CONNECT. On when
    the server serves WebSockets (an ASGI app and not `--ws none`)."""

    def __post_init__(self) -> None:
        _check(self.max_concurrent_streams >= 1, "max_concurrent_streams must be >= 1")
        _check(self.max_header_list_size >= 1024, "max_header_list_size must be >= 1024")
        _check(0 <= self.header_table_size < 2**32, "header_table_size must be 0..2**32-1")
        _check(
            MIN_FRAME_SIZE <= self.max_frame_size <= MAX_FRAME_SIZE,
            f"max_frame_size must be {MIN_FRAME_SIZE}..{MAX_FRAME_SIZE} (RFC 9113 §6.5.2)",
        )
        _check(
            DEFAULT_WINDOW <= self.stream_receive_buffer <= MAX_WINDOW,
            f"stream_receive_buffer must be {DEFAULT_WINDOW}..{MAX_WINDOW}",
        )
        _check(
            DEFAULT_WINDOW <= self.connection_receive_buffer <= MAX_WINDOW,
            f"connection_receive_buffer must be {DEFAULT_WINDOW}..{MAX_WINDOW}",
        )
        _check(self.control_frames_per_second >= 10, "control_frames_per_second must be >= 10")
        _check(self.reset_burst >= 1, "reset_burst must be >= 1")
        _check(self.resets_per_second >= 1, "resets_per_second must be >= 1")

    @property
    def header_block_budget(self) -> int:
        """Encoded bytes one header block (HEADERS + CONTINUATIONs) may reach before
        END_HEADERS. An encoder never spends more on a field than its list-size cost (32 bytes
        of overhead cover the length prefixes, and Huffman is only used when it shortens),
        so a block longer than the list size plus room for padding and priority is an
        endless block (the 2024 CONTINUATION flood), refused with ENHANCE_YOUR_CALM."""
        return self.max_header_list_size + 1024


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def limits_from_config(config: Config, websocket: bool = False) -> H2Limits | None:
    """The bounds to serve HTTP/2 with, or None when it is off (`--http2 off`, or `auto`
    without h2). `on` without h2 installed is a one-line StartupError saying how to get it;
    a bound out of its range is one too. `websocket`: the server serves WebSockets."""
    if config.http2 == "off":
        return None
    if importlib.util.find_spec("h2") is None:
        if config.http2 == "on":
            raise StartupError("--http2 on needs the h2 package: pip install 'duoserve[http2]'")
        return None
    try:
        return H2Limits(
            max_concurrent_streams=config.h2_max_concurrent_streams,
            max_header_list_size=config.h2_max_header_list_size,
            header_table_size=config.h2_header_table_size,
            max_frame_size=config.h2_max_frame_size,
            stream_receive_buffer=config.h2_stream_buffer,
            connection_receive_buffer=config.h2_connection_buffer,
            control_frames_per_second=config.h2_control_frames_per_second,
            reset_burst=config.h2_reset_burst,
            resets_per_second=config.h2_resets_per_second,
            websocket=websocket,
        )
    except ValueError as exc:
        raise StartupError(f"HTTP/2 settings: {exc}") from None
