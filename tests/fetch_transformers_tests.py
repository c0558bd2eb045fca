# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Fetch transformers' common model tests for tests/test_transformers_common.py.

The transformers wheel has no tests; its source distribution on the package index holds the common test modules
(tests/test_modeling_common.py with `ModelTesterMixin`, tests/test_configuration_common.py with `ConfigTester`).
This script downloads the sdist of the *installed* transformers version with pip and extracts those modules into
`.cache/transformers-tests/<version>/transformers_common_tests/` (ignored by git), a package of its own so its
names cannot clash with ours. `make test` runs it before pytest, and the test module calls `ensure()` too.

The sdist holds only the top-level tests/*.py files. Three modules they import live in sub-folders the sdist leaves
out; each is extracted when the sdist has it, otherwise a stand-in is written and listed in STAND_INS.json:
  exporters/test_export.py   ExportTesterMixin, a base class of ModelTesterMixin (torch.export / ONNX / ExecuTorch
                             export tests). Stand-in: an empty mixin, so those export tests do not run.
  generation/test_utils.py   GenerationTesterMixin, only used by ModelTesterMixin in an issubclass check (models
                             that can generate must inherit it). Stand-in: an empty mixin; AaSP cannot generate.
  utils/test_configuration_utils.py
                             config_common_kwargs for ConfigTester.check_config_arguments_init: every argument of
                             PreTrainedConfig with a non-default value. Stand-in: that dict for transformers 5.x
                             (tests/test_transformers_common.py checks it still covers PreTrainedConfig's fields).

Failures are loud: any problem (pip cannot download, a needed file is not in the sdist) exits with status 1 and a
message saying what to do. AASP_TRANSFORMERS_SDIST=/path/to/transformers-<version>.tar.gz uses a local copy of the
sdist instead of downloading it (it must be the installed version).

Usage: python tests/fetch_transformers_tests.py [--force]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib.metadata import version
from pathlib import Path


REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_ROOT = REPO_ROOT / ".cache" / "transformers-tests"
PACKAGE = "transformers_common_tests"
SDIST_ENV = "AASP_TRANSFORMERS_SDIST"
# modules the common tests need; a missing one is an error
REQUIRED = ("test_modeling_common.py", "test_configuration_common.py")

EXPORT_STAND_IN = '''"""Stand-in written by tests/fetch_transformers_tests.py: tests/exporters/ is not in the transformers sdist.

The real ExportTesterMixin adds export tests (torch.export, ONNX, ExecuTorch); without it they do not run.
"""


class ExportTesterMixin:
    pass
'''
GENERATION_STAND_IN = '''"""Stand-in written by tests/fetch_transformers_tests.py: tests/generation/ is not in the transformers sdist.

ModelTesterMixin only uses GenerationTesterMixin in an issubclass check: a test class must inherit it exactly when
its models can generate. AaSP cannot generate, so its test class does not inherit it, with or without the real one.
"""


class GenerationTesterMixin:
    pass
'''
CONFIGURATION_STAND_IN = '''"""Stand-in written by tests/fetch_transformers_tests.py: tests/utils/ is not in the transformers sdist.

config_common_kwargs: every argument of transformers 5.x `PreTrainedConfig` with a non-default value, as
ConfigTester.check_config_arguments_init needs (tests/test_transformers_common.py checks that it still covers the
installed PreTrainedConfig's fields).
"""

config_common_kwargs = {
    "return_dict": False,
    "output_hidden_states": True,
    "output_attentions": True,
    "dtype": "float16",
    "chunk_size_feed_forward": 5,
    "architectures": ["BertModel"],
    "id2label": {0: "label"},
    "label2id": {"label": "0"},
    "problem_type": "regression",
}
'''
# module -> (the sdist folder that holds it, the stand-in written when the sdist lacks it)
OPTIONAL = {
    "exporters/test_export.py": ("exporters", EXPORT_STAND_IN),
    "generation/test_utils.py": ("generation", GENERATION_STAND_IN),
    "utils/test_configuration_utils.py": ("utils", CONFIGURATION_STAND_IN),
}


class FetchError(RuntimeError):
    """The common tests could not be fetched; the message says why and what to do."""


def installed_version() -> str:
    return version("transformers")


def target_dir(transformers_version: str | None = None) -> Path:
    """The folder to put on sys.path: it holds the `transformers_common_tests` package."""
    return CACHE_ROOT / (transformers_version or installed_version())


def is_complete(folder: Path) -> bool:
    return (folder / PACKAGE / "COMPLETE").is_file()


def download_sdist(transformers_version: str, destination: Path) -> Path:
    """Download transformers==<version>'s sdist with pip (no dependencies, no wheel) into `destination`."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        f"transformers=={transformers_version}",
        "-d",
        str(destination),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    archives = sorted(destination.glob(f"transformers-{transformers_version}.tar.gz"))
    if result.returncode != 0 or not archives:
        raise FetchError(
            f"pip could not download the source distribution of transformers {transformers_version} (exit status "
            f"{result.returncode}). It holds transformers' common model tests, which tests/test_transformers_common.py "
            f"runs. Check access to the package index, or set {SDIST_ENV}=/path/to/transformers-"
            f"{transformers_version}.tar.gz.\n--- pip output ---\n{(result.stdout + result.stderr).strip()[-3000:]}"
        )
    return archives[0]


def extract(archive: Path, transformers_version: str, package: Path) -> list[str]:
    """Extract the common test modules into `package`; returns the stand-ins written."""
    prefix = f"transformers-{transformers_version}/tests/"
    with tarfile.open(archive) as tar:
        members = {m.name[len(prefix) :]: m for m in tar.getmembers() if m.isfile() and m.name.startswith(prefix)}
        missing = [name for name in REQUIRED if name not in members]
        if missing:
            raise FetchError(
                f"{archive.name} lacks tests/{', tests/'.join(missing)}: this transformers release does not ship the "
                "common model tests in its sdist, so tests/test_transformers_common.py cannot run against it."
            )
        wanted = list(REQUIRED)
        stand_ins = []
        for module, (folder, stand_in) in OPTIONAL.items():
            if module in members:
                wanted += [name for name in members if name.startswith(folder + "/")]
            else:
                (package / folder).mkdir(parents=True, exist_ok=True)
                (package / module).write_text(stand_in)
                stand_ins.append(module)
        for name in wanted:
            path = package / name
            path.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(members[name])
            path.write_bytes(source.read())
    # every folder is a package: the modules import each other relatively (`from .utils.... import ...`)
    for folder in [package, *(p for p in package.rglob("*") if p.is_dir())]:
        init = folder / "__init__.py"
        if not init.exists():
            # (transformers' test_configuration_common.py runs this file once more, as `transformers`: keep it empty)
            init.write_text("")
    return stand_ins


def fetch(force: bool = False, verbose: bool = True) -> Path:
    """Make sure the common tests of the installed transformers are extracted; return the folder for sys.path."""
    transformers_version = installed_version()
    folder = target_dir(transformers_version)
    if is_complete(folder) and not force:
        return folder
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE_ROOT) as work:
        work = Path(work)
        local = os.environ.get(SDIST_ENV)
        if local:
            archive = Path(local)
            if archive.name != f"transformers-{transformers_version}.tar.gz" or not archive.is_file():
                raise FetchError(
                    f"{SDIST_ENV}={local}: no such file, or not named transformers-{transformers_version}.tar.gz "
                    "(the sdist of the installed transformers version)."
                )
        else:
            if verbose:
                print(f"[transformers tests] downloading the transformers {transformers_version} sdist with pip")
            archive = download_sdist(transformers_version, work / "download")
        package = work / "extracted" / PACKAGE
        package.mkdir(parents=True)
        stand_ins = extract(archive, transformers_version, package)
        (package / "STAND_INS.json").write_text(json.dumps(stand_ins, indent=2) + "\n")
        (package / "COMPLETE").write_text(f"transformers {transformers_version} from {archive.name}\n")
        if folder.exists():
            shutil.rmtree(folder)
        (work / "extracted").rename(folder)
    if verbose:
        note = f"; stand-ins for what the sdist lacks: {', '.join(stand_ins)}" if stand_ins else ""
        print(f"[transformers tests] transformers {transformers_version} common tests in {folder}{note}")
    return folder


def ensure() -> Path:
    """`fetch()` for the test module: quiet when the tests are already there."""
    return fetch(verbose=not is_complete(target_dir()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="download and extract again even if already there")
    args = parser.parse_args(argv)
    try:
        fetch(force=args.force)
    except FetchError as error:
        print(f"[transformers tests] ERROR: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
