"""Project files: find them, load and validate them, resolve `extends` bases, check one file per project.

Offline and light: nothing here imports the network stack or deepdiff, so `validate` starts fast.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from reconciler.errors import InputError, PlanError, Position, Problem
from reconciler.loader import Document, load_file
from reconciler.model import DesiredProject, RubricSpec, SecretRef
from reconciler.validate import call_durations_problem, validate_document

YAML_SUFFIXES = (".yaml", ".yml")


def collect_files(paths: Iterable[str]) -> list[str]:
    """Files as given; directories scanned recursively for *.yaml / *.yml, in a stable order."""
    files: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = [
                str(p) for p in sorted(path.rglob("*")) if p.suffix.lower() in YAML_SUFFIXES and p.is_file()
            ]
            if not found:
                raise PlanError(f"{raw}: no project files (*.yaml, *.yml) in this directory")
            files.extend(found)
        else:
            files.append(raw)
    return list(dict.fromkeys(files))


def _rekey_base(base: DesiredProject) -> DesiredProject:
    """Move a base's rule paths under ("@base", file, ...) so they keep their own positions."""
    prefix: tuple[str | int, ...] = ("@base", base.file)
    rules = tuple(replace(r, path=prefix + r.path) for r in base.rubric.rules) if base.rubric else ()
    positions = {prefix + path: where for path, where in base.positions.items()}
    positions[prefix] = f"{base.file}:1:1"
    positions.update(base.positions)
    rubric = replace(base.rubric, rules=rules) if base.rubric else None
    return replace(base, rubric=rubric, positions=positions)


def merge_base(base: DesiredProject, child: DesiredProject) -> DesiredProject:
    """``child`` over ``base``: settings and secrets by name, rubric rules by metric; child wins."""
    base = _rekey_base(base)
    base_dir = Path(base.file).resolve().parent  # absolute: secrets resolve against the child's dir
    secrets = {
        name: SecretRef("file", str(base_dir / ref.name), relative_to=str(base_dir))
        if ref.kind == "file" and not Path(ref.name).expanduser().is_absolute()
        else ref
        for name, ref in base.secrets.items()
    }
    secrets.update(child.secrets)
    rubric = child.rubric or base.rubric
    if base.rubric and child.rubric:
        owned = {r.metric_id if r.metric_id is not None else r.metric_ref for r in child.rubric.rules}
        kept = tuple(
            r
            for r in base.rubric.rules
            if (r.metric_id if r.metric_id is not None else r.metric_ref) not in owned
        )
        prune = child.rubric.prune if child.rubric.prune is not None else base.rubric.prune
        rubric = RubricSpec(prune=prune, rules=kept + child.rubric.rules)
    parts = {**base.parts, **child.parts}  # a registered kind's part: the child's, else the base's
    positions = {**base.positions, **child.positions}
    if set(base.parts) & set(child.parts):
        # Both files have a kind's part: the kind merges them (metrics by slug). The registry is
        # imported only then (validate's start-up imports stay small).
        from reconciler.kinds import kinds

        for kind in kinds():
            if kind.key in base.parts and kind.key in child.parts:
                parts[kind.key], where = kind.merge(base, child)
                if where:  # the kind's part placed anew: only its positions hold for it
                    positions = {p: w for p, w in positions.items() if p[:1] != (kind.key,)} | where
    return DesiredProject(
        file=child.file,
        # Not inherited: a base naming a project is that project's file; its children manage their own.
        project_id=child.project_id,
        settings={**base.settings, **child.settings},
        secrets=secrets,
        rubric=rubric,
        positions=positions,
        parts=parts,
        bases=(os.path.realpath(base.file), *base.bases),
    )


def load_desired(
    file: str, chain: tuple[str, ...] = (), *, load: Callable[[str], Document] = load_file
) -> DesiredProject:
    """Load and validate one file and, through ``extends``, its bases (errors name their own file).

    ``load``: how a file is read (``pull`` checks its edits before writing them by loading them from
    memory)."""
    doc = load(file)
    desired = validate_document(doc)
    reference = doc.data.get("extends") if isinstance(doc.data, dict) else None
    if not isinstance(reference, str):
        return desired
    position = Position.parse(desired.where(("extends",)))
    base_file = os.path.normpath(Path(file).parent / reference)
    me = os.path.realpath(file)
    if os.path.realpath(base_file) in (*chain, me):
        cycle = " -> ".join([*(os.path.relpath(c) for c in (*chain, me)), os.path.relpath(base_file)])
        raise InputError([Problem(position, f"extends: {reference} makes a cycle ({cycle})")])
    if not Path(base_file).is_file():
        raise InputError([Problem(position, f"extends: base file {base_file} does not exist")])
    merged = merge_base(load_desired(base_file, (*chain, me), load=load), desired)
    durations = call_durations_problem(merged.settings)
    if durations:
        # Each file alone may be fine; together (base + this file) they are not. At this file's
        # `extends` line: the combination is this file's.
        raise InputError([Problem(position, f"with {reference}, {durations}")])
    return merged


def unextended_bases(paths: Iterable[str], projects: Iterable[DesiredProject]) -> list[str]:
    """Base files (no `project:`) found by scanning a directory that no loaded file extends: in a
    directory of project files, most likely a project file that lost its `project:` line. A base
    named on the command line is there on purpose and is not listed."""
    loaded = list(projects)
    if all(p.project_id is not None for p in loaded):
        return []  # nothing to look for: no scan of the directories again
    scanned = {os.path.realpath(f) for f in collect_files(p for p in paths if Path(p).is_dir())}
    used = {base for project in loaded for base in project.bases}
    return [
        p.file
        for p in loaded
        if p.project_id is None
        and os.path.realpath(p.file) in scanned
        and os.path.realpath(p.file) not in used
    ]


def load_projects(paths: Iterable[str]) -> list[DesiredProject]:
    """Load and validate every file; every problem of every file is reported at once."""
    problems: list[Problem] = []
    # A base's problems come once per file that extends it: report each once. A set, not
    # `p not in problems` on the list, which made 10,000 invalid files take a minute.
    reported: set[Problem] = set()
    desired: list[DesiredProject] = []
    for file in collect_files(paths):
        try:
            desired.append(load_desired(file))
        except InputError as exc:
            for problem in exc.problems:
                if problem not in reported:
                    reported.add(problem)
                    problems.append(problem)
    seen: dict[int, DesiredProject] = {}
    for project in desired:
        if project.project_id is None:
            continue
        if project.project_id in seen:
            first = seen[project.project_id]
            problems.append(
                Problem(
                    Position.parse(project.where(("project",))),
                    f"project {project.project_id} is also managed by {first.file}; one file per project",
                )
            )
        else:
            seen[project.project_id] = project
    if problems:
        raise InputError(problems)
    return desired
