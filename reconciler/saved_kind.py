"""What marks a file as a saved plan, told apart without loading the saved-plan machinery.

``plan`` and ``apply`` check every path they are given with :func:`looks_like_saved_plan`; only
``apply`` of a saved plan needs ``reconciler.saved`` itself (its codec, checksum and rebuild), so this
module imports nothing but the standard library.
"""

from __future__ import annotations

KIND = "cekura-reconciler/saved-plan"


def looks_like_saved_plan(path: str) -> bool:
    """True for a file that starts like a saved plan (cheap: reads the first bytes only)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return head.lstrip().startswith(b"{") and KIND.encode() in head


__all__ = ["KIND", "looks_like_saved_plan"]
