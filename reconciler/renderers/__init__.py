"""Output formats, one class per format, chosen by name from ``REGISTRY``.

Every command that reports (plan, drift, apply, restore) renders through the renderer its
``--format`` names, and the choices of ``--format`` are the registry's names. To add a format: a
module here with a ``Renderer`` subclass (see ``base.py`` for the calls it gets and their order),
and one line in ``REGISTRY``. Shared pieces: ``wording`` (the words of a plan and of a drift report)
and ``markdown_syntax`` (escaping, code spans, tables).
"""

from __future__ import annotations

from reconciler.renderers.base import Renderer
from reconciler.renderers.json import JsonRenderer
from reconciler.renderers.markdown import MarkdownRenderer
from reconciler.renderers.text import TextRenderer

REGISTRY: dict[str, type[Renderer]] = {
    renderer.name: renderer for renderer in (TextRenderer, JsonRenderer, MarkdownRenderer)
}

__all__ = ["REGISTRY", "JsonRenderer", "MarkdownRenderer", "Renderer", "TextRenderer"]
