"""Input problems as GitHub workflow commands: ``::error file=F,line=L,col=C::message``.

A step's output line in that form becomes an annotation on that line of the file, which GitHub
shows in the pull request's diff ("Files changed") and on the run's summary. Escaping follows
GitHub's rules for workflow commands (the runner's ``ActionCommand``): in the message ``%``, ``\\r``
and ``\\n`` are percent-encoded; in a property value (the file name) ``:`` and ``,`` are too, since
they separate the properties. Pure: builds the lines, prints nothing itself.
"""

from __future__ import annotations

import os
from typing import Literal

from reconciler.errors import Problem

Level = Literal["error", "warning", "notice"]


def escape_data(text: str) -> str:
    """A message: ``%``, CR and LF percent-encoded (``%`` first, so nothing is encoded twice)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property value (``file=``): as a message, plus ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _repository_path(file: str) -> str:
    """GitHub places annotations by the path from the repository root (the working directory of a
    step): an absolute path inside it is made relative; anything else is left as given."""
    if os.path.isabs(file):
        relative = os.path.relpath(file)
        if not relative.startswith(".."):
            return relative
    return file


def annotation(problem: Problem, level: Level = "error") -> str:
    where = problem.position
    properties = f"file={escape_property(_repository_path(where.file))},line={where.line},col={where.col}"
    return f"::{level} {properties}::{escape_data(problem.message)}"


def plain_annotation(message: str, level: Level = "error") -> str:
    """An annotation that belongs to no file line (the run's summary shows it)."""
    return f"::{level}::{escape_data(message)}"
