"""The --http2 and --h2-* settings onto H2Limits: each bound mapped, off, and the one-line errors."""

from __future__ import annotations

import importlib.util

import pytest

from duoserve import Config
from duoserve.errors import StartupError
from duoserve.http2 import limits
from duoserve.http2.limits import H2Limits, limits_from_config


def test_each_setting_maps_onto_its_bound() -> None:
    config = Config(
        app="x",
        h2_max_concurrent_streams=7,
        h2_max_header_list_size=2048,
        h2_header_table_size=0,
        h2_max_frame_size=32_768,
        h2_stream_buffer=70_000,
        h2_connection_buffer=80_000,
        h2_control_frames_per_second=20,
        h2_reset_burst=3,
        h2_resets_per_second=2,
    )
    assert limits_from_config(config) == H2Limits(7, 2048, 0, 32_768, 70_000, 80_000, 20, 3, 2)


def test_off_and_out_of_range() -> None:
    assert limits_from_config(Config(app="x", http2="off")) is None
    with pytest.raises(StartupError, match="max_frame_size"):
        limits_from_config(Config(app="x", h2_max_frame_size=100))


def test_on_without_h2_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        limits.importlib.util, "find_spec", lambda name: None if name == "h2" else real(name)
    )
    assert limits_from_config(Config(app="x", http2="auto")) is None
    with pytest.raises(StartupError) as info:
        limits_from_config(Config(app="x", http2="on"))
    assert "pip install 'duoserve[http2]'" in str(info.value)
    assert "\n" not in str(info.value)
