"""The pure HTTP/2 pieces: h2c detection, the limits' checks and the flood guard's verdicts."""

from __future__ import annotations

import base64

import pytest

from duoserve.http2.events import ErrorCode
from duoserve.http2.guard import FrameGuard
from duoserve.http2.limits import H2Limits
from duoserve.http2.preface import PREFACE, h2c_upgrade_settings, match_preface

hyperframe = pytest.importorskip("hyperframe.frame")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (PREFACE, "h2"),
        (PREFACE + b"\x00\x00\x00\x04", "h2"),
        (PREFACE[:10], "partial"),
        (b"", "partial"),
        (b"GET / HTTP/1.1\r\n", "no"),
        (b"PRI * HTTP/1.1\r\n", "no"),
    ],
)
def test_match_preface(data: bytes, expected: str) -> None:
    assert match_preface(data) == expected


SETTINGS = base64.urlsafe_b64encode(b"\x00\x03\x00\x00\x00\x64").rstrip(b"=")
UPGRADE = [
    (b"Host", b"example.com"),
    (b"Connection", b"Upgrade, HTTP2-Settings"),
    (b"Upgrade", b"h2c"),
    (b"HTTP2-Settings", SETTINGS),
]


def test_h2c_upgrade_settings_decoded() -> None:
    assert h2c_upgrade_settings(UPGRADE) == b"\x00\x03\x00\x00\x00\x64"


@pytest.mark.parametrize(
    "headers",
    [
        [h for h in UPGRADE if h[0] != b"Upgrade"],
        [h for h in UPGRADE if h[0] != b"HTTP2-Settings"],
        [*UPGRADE, (b"HTTP2-Settings", SETTINGS)],  # twice
        [(n, b"Upgrade") if n == b"Connection" else (n, v) for n, v in UPGRADE],
        [(n, b"!!!!") if n == b"HTTP2-Settings" else (n, v) for n, v in UPGRADE],
        [(n, b"AAAA") if n == b"HTTP2-Settings" else (n, v) for n, v in UPGRADE],  # 3 bytes
        [*UPGRADE, (b"Content-Length", b"5")],  # a body: served over HTTP/1.1
        [*UPGRADE, (b"Transfer-Encoding", b"chunked")],
    ],
)
def test_h2c_upgrade_refused(headers: list[tuple[bytes, bytes]]) -> None:
    assert h2c_upgrade_settings(headers) is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_frame_size": 16383},
        {"max_frame_size": 2**24},
        {"stream_receive_buffer": 65534},
        {"connection_receive_buffer": 2**31},
        {"max_concurrent_streams": 0},
    ],
)
def test_limits_refuse_values_outside_the_protocol(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        H2Limits(**kwargs)  # type: ignore[arg-type]


def settings() -> bytes:
    return bytes(hyperframe.SettingsFrame(0).serialize())


def started(limits: H2Limits | None = None) -> FrameGuard:
    guard = FrameGuard(limits or H2Limits(), now=0.0)
    assert guard.scan(PREFACE + settings(), 0.0) is None
    return guard


def test_first_frame_must_be_settings() -> None:
    guard = FrameGuard(H2Limits(), now=0.0)
    ping = hyperframe.PingFrame(0).serialize()
    violation = guard.scan(PREFACE + ping, 0.0)
    assert violation is not None and violation.error_code is ErrorCode.PROTOCOL_ERROR


def test_oversized_frame_refused_from_its_header() -> None:
    guard = started()
    header = (16385).to_bytes(3, "big") + b"\x00\x00\x00\x00\x00\x01"  # DATA, no payload yet
    violation = guard.scan(header, 0.0)
    assert violation is not None and violation.error_code is ErrorCode.FRAME_SIZE_ERROR


def test_frame_header_split_byte_by_byte() -> None:
    guard = FrameGuard(H2Limits(), now=0.0)
    data = PREFACE + settings() + (16385).to_bytes(3, "big") + b"\x00\x00\x00\x00\x00\x01"
    verdicts = [guard.scan(data[i : i + 1], 0.0) for i in range(len(data))]
    assert [v.error_code for v in verdicts if v] == [ErrorCode.FRAME_SIZE_ERROR]
    assert verdicts[-1] is not None


def test_ping_flood_within_one_second() -> None:
    guard = started(H2Limits(control_frames_per_second=50))
    ping = hyperframe.PingFrame(0).serialize()
    verdicts = [guard.scan(ping, 0.5) for _ in range(51)]
    assert verdicts[:49] == [None] * 49  # the preface's SETTINGS took one token
    assert verdicts[50] is not None and verdicts[50].error_code is ErrorCode.ENHANCE_YOUR_CALM


def test_control_budget_refills_and_sent_data_earns_tokens() -> None:
    guard = started(H2Limits(control_frames_per_second=10))
    update = hyperframe.WindowUpdateFrame(0, window_increment=1).serialize()
    assert all(guard.scan(update, 0.0) is None for _ in range(9))
    assert guard.scan(update, 0.0) is not None
    guard = started(H2Limits(control_frames_per_second=10))
    assert all(guard.scan(update, 0.0) is None for _ in range(9))
    guard.credit_sent_data(5)
    assert all(guard.scan(update, 0.0) is None for _ in range(5))
    guard = started(H2Limits(control_frames_per_second=10))
    assert all(guard.scan(update, t / 10) is None for t in range(100))  # 10 a second


def test_empty_data_flood_but_empty_end_stream_is_free() -> None:
    guard = started(H2Limits(control_frames_per_second=10))
    end = hyperframe.DataFrame(1, flags=["END_STREAM"]).serialize()
    assert all(guard.scan(end, 0.0) is None for _ in range(100))
    empty = hyperframe.DataFrame(1).serialize()
    verdicts = [guard.scan(empty, 0.0) for _ in range(10)]
    assert verdicts[-1] is not None and verdicts[-1].error_code is ErrorCode.ENHANCE_YOUR_CALM


def test_rapid_reset_budget() -> None:
    guard = started(H2Limits(reset_burst=20, resets_per_second=5))
    headers = hyperframe.HeadersFrame(1, data=b"\x82", flags=["END_HEADERS"]).serialize()
    reset = hyperframe.RstStreamFrame(1, error_code=8).serialize()
    verdicts = [guard.scan(headers + reset, 0.0) for _ in range(21)]
    assert verdicts[:20] == [None] * 20
    assert verdicts[20] is not None and verdicts[20].error_code is ErrorCode.ENHANCE_YOUR_CALM


def test_continuation_flood_stopped_before_end_headers() -> None:
    limits = H2Limits()
    guard = started(limits)
    fragment = b"\x00" * 16_000
    first = hyperframe.HeadersFrame(1, data=fragment).serialize()
    assert guard.scan(first, 0.0) is None
    sent = 16_000
    verdict = None
    while verdict is None:
        verdict = guard.scan(hyperframe.ContinuationFrame(1, data=fragment).serialize(), 0.0)
        sent += 16_000
    assert verdict.error_code is ErrorCode.ENHANCE_YOUR_CALM
    assert limits.header_block_budget < sent <= limits.header_block_budget + 16_000


def test_empty_continuation_flood() -> None:
    guard = started(H2Limits(control_frames_per_second=10))
    assert guard.scan(hyperframe.HeadersFrame(1, data=b"\x82").serialize(), 0.0) is None
    empty = hyperframe.ContinuationFrame(1).serialize()
    verdicts = [guard.scan(empty, 0.0) for _ in range(10)]
    assert verdicts[-1] is not None and verdicts[-1].error_code is ErrorCode.ENHANCE_YOUR_CALM


def _guard_state(guard: FrameGuard) -> tuple[object, ...]:
    plain = [
        name for name in FrameGuard.__slots__ if name not in ("_limits", "_control", "_resets")
    ]
    values = [getattr(guard, name) for name in plain]
    values = [bytes(value) if isinstance(value, bytearray) else value for value in values]
    return (*values, guard._control.tokens, guard._resets.tokens)


def _first_violation(data: bytes, cuts: list[int]) -> tuple[object, ...]:
    guard = FrameGuard(H2Limits(control_frames_per_second=40, reset_burst=5), 0.0)
    for start, stop in zip([0, *cuts], [*cuts, len(data)], strict=True):
        found = guard.scan(data[start:stop], 0.0)
        if found is not None:
            return ("violation", found)
    return ("state", _guard_state(guard))


def test_guard_verdicts_do_not_depend_on_how_reads_split() -> None:
    """Frame heads read in place (whole in a read) or gathered across reads: the same."""
    import random

    rng = random.Random(14)

    def frame(length: int, kind: int, flags: int, sid: int) -> bytes:
        return (
            length.to_bytes(3, "big")
            + bytes([kind, flags])
            + sid.to_bytes(4, "big")
            + (b"\0" * length)
        )

    kinds = [0x0, 0x1, 0x3, 0x4, 0x6, 0x8, 0x9, 0xA]
    for _ in range(300):
        data = PREFACE + frame(0, 0x4, 0, 0)
        for _ in range(rng.randrange(1, 60)):
            kind = rng.choice(kinds)
            flags = rng.choice([0, 0x1, 0x4, 0x5])
            length = 17_000 if rng.random() < 0.02 else rng.choice([0, 0, 1, 8, 100, 3_000])
            data += frame(length, kind, flags, rng.choice([1, 3, 5]))
        whole = _first_violation(data, [])
        bytewise = list(range(1, min(len(data), 1_500)))  # byte by byte, then the rest
        assert _first_violation(data, bytewise) == whole
        cuts = sorted(rng.sample(range(1, len(data)), min(8, len(data) - 1)))
        assert _first_violation(data, cuts) == whole
