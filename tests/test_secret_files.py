"""`{file: PATH}` secret references read only what the user meant to share.

A relative reference stays inside the repository that holds the project file (its git root, or the
file's own folder outside git); an absolute one (or `~/...`) only under a folder allowed with
--secrets-dir or CEKURA_SECRETS_DIRS; only a regular file of at most 64 KiB is read, without
blocking on a FIFO or reading a device; a UTF-8 BOM is not part of the value. Errors name the
reference at its file:line:col, never anything the file holds.

The CLI runs against the emulator, as a subprocess. Runs that the old behaviour would turn into
a hang (a FIFO) or an unbounded read (/dev/zero) get a short timeout and a memory cap, so they fail
the test instead of stalling the machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, Cli, Result

from reconciler.emulator import RunningEmulator
from reconciler.model import SecretRef

HOOK = "whsec-FILES-7c1e42"
OUTSIDE = "outside-SECRET-d93a05"  # a file the project must not be able to reach


def project(folder: Path, ref: str, *, name: str = "p.yaml", project_id: int = 124) -> Path:
    """A project file whose webhook_secret is ``{file: REF}``; the reference is on line 4, col 19."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"version: 1\nproject: {project_id}\nsecrets:\n  webhook_secret: {{file: {ref}}}\n")
    return path


def where(path: Path, ref: str) -> str:
    return f"{path}:4:19: secrets.webhook_secret ({{file: {ref}}}): "


def outside_file(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(OUTSIDE + "\n")
    return path


def assert_refused(result: Result, emulator: RunningEmulator, *expected: str) -> None:
    assert result.code == 1, result.all
    for text in expected:
        assert text in result.err, result.err
    assert "Traceback" not in result.all
    assert OUTSIDE not in result.all
    assert emulator.state.patches() == []


def bounded(cli: Cli, *args: str, env: dict[str, str] | None = None) -> Result:
    """The CLI with a 20 s timeout and a 1 GiB address space (an endless read fails, not the host)."""

    def cap() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=ROOT,
        env={**cli.env, **(env or {})},
        input="",
        capture_output=True,
        text=True,
        timeout=20,
        preexec_fn=cap,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def test_proc_self_environ_is_refused(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    path = project(tmp_path / "proj", "/proc/self/environ")
    for command in (("plan",), ("apply", "--auto-approve")):
        result = cli(*command, str(path), env={"LEAKED": OUTSIDE})
        assert_refused(result, emulator, where(path, "/proc/self/environ"), "--secrets-dir")


def test_a_relative_reference_must_stay_inside_the_repository(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    outside_file(tmp_path)
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)  # what makes a folder a git work tree's root
    (repo / "secrets").mkdir()
    (repo / "secrets" / "hook").write_text(HOOK + "\n")
    escaping = project(repo / "projects", "../../outside/secret")
    # Seen from the text alone, so validate says it too, offline; plan and apply validate first.
    for command in (("validate",), ("plan",), ("apply", "--auto-approve")):
        result = cli(*command, str(escaping))
        assert_refused(
            result,
            emulator,
            f"{escaping}:4:19: secrets.webhook_secret: the file reference leaves the "
            f"repository {repo}; a relative reference must stay inside it",
        )

    # Up and down inside the repository is fine: the root is the git root, not the file's folder.
    inside = project(repo / "projects", "../secrets/hook", name="ok.yaml")
    applied = cli("apply", "--auto-approve", str(inside))
    assert applied.code == 0, applied.all
    assert emulator.state.stored_secret(124, "webhook_secret") == HOOK

    # Outside git, the project file's own folder is the root.
    loose = project(tmp_path / "loose", "../repo/secrets/hook")
    refused = cli("plan", str(loose))
    assert refused.code == 1 and f"leaves the repository {tmp_path / 'loose'};" in refused.err, refused.all


def test_a_home_reference_needs_its_folder_allowed(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"  # HOME is tmp_path in the CLI's environment
    keys.mkdir()
    (keys / "hook").write_text(HOOK + "\n")
    path = project(tmp_path / "proj", "~/keys/hook")
    assert_refused(cli("plan", str(path)), emulator, where(path, "~/keys/hook"), "--secrets-dir")
    elsewhere = cli("plan", "--secrets-dir", str(tmp_path / "proj"), str(path))
    assert_refused(elsewhere, emulator, where(path, "~/keys/hook"))
    applied = cli("apply", "--auto-approve", "--secrets-dir", str(keys), str(path))
    assert applied.code == 0, applied.all
    assert emulator.state.stored_secret(124, "webhook_secret") == HOOK


def test_an_absolute_path_inside_a_secrets_dir_is_accepted(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    vault = tmp_path / "vault"
    vault.mkdir()
    (vault / "hook").write_text(HOOK + "\n")
    secret = outside_file(tmp_path)
    other = project(tmp_path / "proj", str(secret), name="other.yaml")
    refused = cli("plan", "--secrets-dir", str(vault), str(other))
    assert_refused(refused, emulator, where(other, str(secret)), "not inside a folder allowed")
    path = project(tmp_path / "proj", str(vault / "hook"))
    applied = cli("apply", "--auto-approve", "--secrets-dir", str(vault), str(path))
    assert applied.code == 0, applied.all
    assert emulator.state.stored_secret(124, "webhook_secret") == HOOK


def test_secrets_dirs_from_the_environment(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    for folder in (one, two):
        folder.mkdir()
        (folder / "hook").write_text(HOOK + "\n")
    env = {"CEKURA_SECRETS_DIRS": f"{one}{os.pathsep}{two}"}
    secret = outside_file(tmp_path)
    other = project(tmp_path / "proj", str(secret), name="other.yaml")
    assert_refused(cli("plan", str(other), env=env), emulator, where(other, str(secret)))
    for folder in (one, two):
        path = project(tmp_path / "proj", str(folder / "hook"))
        result = cli("plan", str(path), env=env)
        assert result.code == 0, result.all
    applied = cli("apply", "--auto-approve", str(path), env=env)
    assert applied.code == 0, applied.all
    assert emulator.state.stored_secret(124, "webhook_secret") == HOOK


def test_a_symlink_is_judged_by_its_target(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    secret = outside_file(tmp_path)
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "hook").symlink_to(secret)
    path = project(folder, "hook")
    assert_refused(
        cli("plan", str(path)), emulator, where(path, "hook"), str(secret), f"outside the repository {folder}"
    )
    # An absolute path through an allowed folder, to a target outside it: refused as well.
    vault = tmp_path / "vault"
    vault.mkdir()
    (vault / "hook").symlink_to(secret)
    through = project(folder, str(vault / "hook"), name="through.yaml")
    assert_refused(cli("plan", "--secrets-dir", str(vault), str(through)), emulator, str(secret))
    # A link that stays inside is followed.
    (folder / "real").write_text(HOOK + "\n")
    (folder / "link").symlink_to(folder / "real")
    applied = cli("apply", "--auto-approve", str(project(folder, "link", name="ok.yaml")))
    assert applied.code == 0, applied.all
    assert emulator.state.stored_secret(124, "webhook_secret") == HOOK


def test_dev_zero_is_refused_without_reading_it(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    path = project(tmp_path / "proj", "/dev/zero")
    assert_refused(bounded(cli, "plan", str(path)), emulator, where(path, "/dev/zero"), "--secrets-dir")
    # Even from an allowed folder: a device is not a file.
    allowed = bounded(cli, "plan", str(path), env={"CEKURA_SECRETS_DIRS": "/dev"})
    assert_refused(allowed, emulator, where(path, "/dev/zero"), "not a regular file (a character device)")


def test_a_fifo_is_refused_without_hanging(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    folder = tmp_path / "proj"
    folder.mkdir()
    os.mkfifo(folder / "pipe")
    path = project(folder, "pipe")
    result = bounded(cli, "apply", "--auto-approve", str(path))
    assert_refused(result, emulator, where(path, "pipe"), "not a regular file (a FIFO)")


def test_a_file_over_64_kib_is_refused(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "big").write_text("x" * 67_000)
    path = project(folder, "big")
    result = cli("apply", "--auto-approve", str(path))
    assert_refused(result, emulator, where(path, "big"), "larger than 64 KiB")
    assert "x" * 100 not in result.all


def test_a_bom_is_not_part_of_the_secret(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "hook").write_bytes(b"\xef\xbb\xbf" + HOOK.encode() + b"\r\n")  # as Notepad saves it
    result = cli("apply", "--auto-approve", str(project(folder, "hook")))
    assert result.code == 0, result.all
    [patch] = emulator.state.patches()
    assert patch.json["webhook_secret"] == HOOK
    assert emulator.state.stored_secret(124, "webhook_secret") == HOOK


def reseal(plan: Path, edit: str) -> None:
    """Point the saved plan's webhook_secret at ``edit`` and recompute its checksum, as an attacker
    who can write the file would (the checksum catches damage, not intent)."""
    document = json.loads(plan.read_text())
    document.pop("checksum")
    project = document["projects"][0]
    project["patch"]["webhook_secret"] = {"$secret": {"file": edit}}
    # The changes too: apply refuses a PATCH that is not what the changes show.
    for change in project["field_changes"]:
        if change.get("path") == "webhook_secret":
            change["after"] = {"$secret": {"file": edit}}
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    document["checksum"] = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    plan.write_text(json.dumps(document))


def test_a_saved_plan_edited_to_escape_is_refused(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    secret = outside_file(tmp_path)
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "hook").write_text(HOOK + "\n")
    path = project(folder, "hook")
    plan = tmp_path / "reviewed.plan"
    made = cli("plan", "--out", str(plan), str(path))
    assert made.code == 0, made.all
    original = plan.read_text()
    for edit in ("../outside/secret", str(secret), "~/outside/secret", "/proc/self/environ"):
        reseal(plan, edit)
        result = cli("apply", str(plan), env={"LEAKED": OUTSIDE})
        assert_refused(result, emulator, f"{plan}: project 124: secret webhook_secret {{file: {edit}}}: ")
        assert "nothing was sent" in result.err
    plan.write_text(original)
    applied = cli("apply", str(plan))
    assert applied.code == 0, applied.all
    assert emulator.state.stored_secret(124, "webhook_secret") == HOOK


def test_a_saved_plan_keeps_an_absolute_reference_absolute(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    vault = tmp_path / "vault"
    vault.mkdir()
    (vault / "hook").write_text(HOOK + "\n")
    path = project(tmp_path / "proj", str(vault / "hook"))
    plan = tmp_path / "reviewed.plan"
    made = cli("plan", "--secrets-dir", str(vault), "--out", str(plan), str(path))
    assert made.code == 0, made.all
    assert f'"file": "{vault / "hook"}"' in plan.read_text()
    refused = cli("apply", str(plan))
    assert_refused(refused, emulator, "--secrets-dir")
    applied = cli("apply", "--secrets-dir", str(vault), str(plan))
    assert applied.code == 0, applied.all
    assert emulator.state.stored_secret(124, "webhook_secret") == HOOK


# -- resolve_secret itself: the limits, exactly ------------------------------------------------------


def test_the_size_limit_is_64_kib_exactly(tmp_path: Path) -> None:
    from reconciler.credentials import SECRET_FILE_MAX_BYTES, resolve_secret

    assert SECRET_FILE_MAX_BYTES == 64 * 1024
    (tmp_path / "max").write_bytes(b"k" * SECRET_FILE_MAX_BYTES)
    (tmp_path / "over").write_bytes(b"k" * (SECRET_FILE_MAX_BYTES + 1))
    value = resolve_secret(SecretRef("file", "max"), base_dir=tmp_path, allowed_dirs=())
    assert value == "k" * SECRET_FILE_MAX_BYTES
    with pytest.raises(ValueError, match="larger than 64 KiB"):
        resolve_secret(SecretRef("file", "over"), base_dir=tmp_path, allowed_dirs=())


def test_messages_never_hold_what_the_file_holds(tmp_path: Path) -> None:
    from reconciler.credentials import resolve_secret

    (tmp_path / "latin1").write_bytes(b"caf\xe9-" + OUTSIDE.encode())
    (tmp_path / "blank").write_bytes(b"\xef\xbb\xbf \r\n")
    for name, expected in (
        ("latin1", "not UTF-8 text"),
        ("blank", "is empty"),
        ("missing", "does not exist"),
    ):
        with pytest.raises(ValueError, match=expected) as caught:
            resolve_secret(SecretRef("file", name), base_dir=tmp_path, allowed_dirs=())
        assert OUTSIDE not in str(caught.value)


def test_resolution_checks_the_path_too(tmp_path: Path) -> None:
    """Not only validate: resolving a reference that leaves its root is refused before any read."""
    from reconciler.credentials import resolve_secret

    secret = outside_file(tmp_path)
    folder = tmp_path / "proj"
    folder.mkdir()
    with pytest.raises(ValueError, match=re.escape(f"is outside the repository {folder};")) as caught:
        resolve_secret(SecretRef("file", "../outside/secret"), base_dir=folder)
    assert OUTSIDE not in str(caught.value)
    # A base file's reference (extends joins it to the base's folder) is bound to the base's root.
    base_ref = SecretRef("file", str(secret), relative_to=str(secret.parent))
    assert resolve_secret(base_ref, base_dir=folder) == OUTSIDE
    with pytest.raises(ValueError, match="an absolute or ~ path is read only inside a folder allowed"):
        resolve_secret(SecretRef("file", str(secret)), base_dir=folder)
