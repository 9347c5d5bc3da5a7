"""cekura-reconciler: manage Cekura projects as code (validate, plan, apply)."""

from __future__ import annotations

__version__ = "0.1.0"
