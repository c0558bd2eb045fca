# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Running a script in a Python process that cannot import `transformers_aasp` (a user without the package)."""

import json
import os
import subprocess
import sys
import textwrap


# Prepended to every script run "without the package": `transformers_aasp` cannot be imported in that process,
# whether it is installed editable, from a wheel, or reachable from the current directory (the child also runs
# with -I, from a temporary directory). The script proves it by trying the import.
HIDE_PACKAGE = textwrap.dedent(
    """
    import importlib.abc, sys

    class HidePackage(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "transformers_aasp" or name.startswith("transformers_aasp."):
                raise ModuleNotFoundError(f"No module named {name!r} (hidden for this test)", name=name)
            return None

    sys.meta_path.insert(0, HidePackage())
    try:
        import transformers_aasp  # noqa: F401
        PACKAGE_IMPORTABLE = True
    except ModuleNotFoundError:
        PACKAGE_IMPORTABLE = False
    """
)


def run_without_package(script: str, args: list[str], workdir) -> dict:
    """Run `script` with `python -I` in `workdir` with the package hidden; returns the JSON of its last line."""
    env = {**os.environ, "HF_MODULES_CACHE": str(workdir / "modules"), "HF_HUB_OFFLINE": "1"}
    run = subprocess.run(
        [sys.executable, "-I", "-c", HIDE_PACKAGE + script, *args],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    last_line = run.stdout.strip().splitlines()[-1]
    # refusing remote code without trust_remote_code may print transformers' "[y/N]" prompt on the same line
    return json.loads(last_line[last_line.index("{") :])
