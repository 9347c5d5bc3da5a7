"""`make demo`: plan and apply examples/project.yaml against the bundled local emulator.

Starts `cekura-reconciler emulator` on a free loopback port, provides what the example references
(the API key, VAPI_API_KEY, the webhook secret file), then runs validate, plan, apply and plan
again through the real CLI, and stops the emulator. No account and no network needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = "examples/project.yaml"


def run(args: list[str], env: dict[str, str]) -> int:
    print(f"\n$ cekura-reconciler {' '.join(args)}", flush=True)
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args], cwd=ROOT, env=env, check=False
    ).returncode


def main() -> int:
    secret_file = ROOT / "examples" / "secrets" / "webhook_secret"
    secret_file.parent.mkdir(exist_ok=True)
    if not secret_file.exists():
        secret_file.write_text("demo-webhook-secret\n", encoding="utf-8")
    with tempfile.TemporaryFile(mode="w+") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "emulator", "--port", "0"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            if "http://" not in line:
                log.seek(0)
                print(f"the emulator did not start:\n{log.read()}", file=sys.stderr)
                return 1
            base_url = line.strip().rsplit(" ", 1)[-1]
            print(f"Started the Cekura API emulator at {base_url} (demo data, no account needed).")
            env = {
                **os.environ,
                "CEKURA_BASE_URL": base_url,
                "CEKURA_API_KEY": "demo",
                "VAPI_API_KEY": "demo-vapi-key",
                "NO_COLOR": os.environ.get("NO_COLOR", ""),
            }
            if not env["NO_COLOR"]:
                del env["NO_COLOR"]
            steps = [
                ["validate", EXAMPLE],
                ["plan", "--impact", "--since", "30d", EXAMPLE],
                ["apply", "--auto-approve", EXAMPLE],
                ["plan", "--detailed-exitcode", EXAMPLE],
            ]
            for step in steps:
                code = run(step, env)
                if code != 0:
                    print(f"\n`{' '.join(step)}` exited {code}", file=sys.stderr)
                    return 1
            print("\nDemo complete: the second plan shows no changes, so the project matches the file.")
            return 0
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    sys.exit(main())
