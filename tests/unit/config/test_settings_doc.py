"""The settings reference is generated from Config and must be checked in fresh."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from duoserve.config.settings import fields

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "gen_settings_doc.py"


def load_generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gen_settings_doc", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_settings_doc_is_fresh() -> None:
    assert load_generator().is_fresh(), "run: python scripts/gen_settings_doc.py"


def test_settings_doc_names_every_setting() -> None:
    text = load_generator().render()
    for f in fields():
        assert f"`DUOSERVE_{f.name.upper()}`" in text
