"""Entry point of a worker started as a fresh interpreter (after a reload or a handover)."""

from __future__ import annotations

import sys

from .fresh import fresh_main

sys.exit(fresh_main(sys.argv[1]))
