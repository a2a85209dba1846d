"""Helpers for the metrics tests: scrape with Prometheus's own parser, start duoserve."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_cli_serve import SERVING, Proc

METRICS = re.compile(r"metrics on (?P<url>http://\S+)/metrics")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition, by (name, labels)."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def scrape(base: str) -> Samples:
    response = httpx.get(base + "/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name` over the samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def start(proc: Proc) -> tuple[str, str]:
    """(app URL, metrics base URL) once the server is serving."""
    metrics = proc.wait_for(METRICS.pattern)["url"]
    return proc.wait_for(SERVING.pattern)["url"], metrics


def write(directory: Path, name: str, source: str) -> None:
    (directory / f"{name}.py").write_text(source)
