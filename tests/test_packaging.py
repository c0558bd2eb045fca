# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""`pip install transformers-aasp` as a user gets it: the wheel is built from a copy of the sources, installed
(not editable) into fresh virtual environments, and run there from a folder outside the source tree.

The environments are light: they hold only the wheel and reuse this environment's installed dependencies through
a `.pth` file that adds its site-packages as a plain path (Python does not process the `.pth` files inside a path
added that way, so this environment's editable install of the package is not seen). The "core" environment sees
only the distributions a bare `pip install transformers-aasp` brings (the extras' ones are left out), the "train"
one everything.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib import metadata
from pathlib import Path

import hub_layouts
import pytest
from example_scripts import QUICK_FINETUNE_OPTIONS
from huggingface_hub import metadata_load
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


pytestmark = pytest.mark.integration  # builds the wheel and installs it in fresh environments

REPO = Path(__file__).resolve().parents[1]
PACKAGE_SOURCE = REPO / "src" / "transformers_aasp"
DISTRIBUTION = "transformers-aasp"
SUBPROCESS_TIMEOUT = 300


# ----------------------------------------------------------------------------------------------------------------
# Building and installing
# ----------------------------------------------------------------------------------------------------------------
def run(command: list, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )


def check(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"{result.args} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


def user_environment(home: Path) -> dict[str, str]:
    """This process's environment without anything that points into the source tree; the Hub offline."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "AASP_MODEL_CARD_DIR")}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(home / "hf_home"), PYTHONNOUSERSITE="1")
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built offline from a copy of the sources (nothing is written into the checkout)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    dist = tmp_path_factory.mktemp("dist")
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", dist]
    check(run([*pip_wheel, source], cwd=source))
    (built,) = dist.glob("transformers_aasp-*.whl")
    return built


def wheel_requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        text = archive.read(name).decode("utf-8")
    return [
        Requirement(line.split(":", 1)[1].strip()) for line in text.splitlines() if line.startswith("Requires-Dist:")
    ]


def is_core(requirement: Requirement) -> bool:
    return requirement.marker is None or requirement.marker.evaluate({"extra": ""})


def installed_closure(names: set[str]) -> set[str]:
    """`names` and every distribution they require (without extras), as installed here."""
    seen, todo = set(), [canonicalize_name(name) for name in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [canonicalize_name(req.name) for req in map(Requirement, requires) if is_core(req)]
    return seen


def extras_only_distributions(wheel: Path) -> set[str]:
    """Distributions the extras ask for that a core install does not bring (directly or through a dependency)."""
    requirements = wheel_requirements(wheel)
    core = installed_closure({req.name for req in requirements if is_core(req)})
    extras = {canonicalize_name(req.name) for req in requirements if not is_core(req)}
    return extras - core - {canonicalize_name(DISTRIBUTION)}


def base_site_dirs() -> list[Path]:
    return list(dict.fromkeys(Path(sysconfig.get_paths()[key]) for key in ("purelib", "platlib")))


def site_dir_without(distributions: set[str], folder: Path) -> Path:
    """A folder of links to this environment's site-packages entries, less the files of `distributions` and of
    the package's own (editable) install: what a site-packages without them looks like."""
    left_out = {".pth"}
    for name in (*distributions, DISTRIBUTION):
        try:
            files = metadata.distribution(name).files or []
        except metadata.PackageNotFoundError:  # not installed here either
            continue
        left_out |= {file.parts[0] for file in files if file.parts and file.parts[0] != ".."}
    folder.mkdir()
    for site_dir in base_site_dirs():
        for entry in site_dir.iterdir():
            if entry.name in left_out or entry.suffix == ".pth" or entry.name.startswith("__editable__"):
                continue
            if not (folder / entry.name).exists():
                (folder / entry.name).symlink_to(entry)
    return folder


def install_into_new_venv(wheel: Path, folder: Path, dependency_dirs: list[Path]) -> Path:
    """A new virtual environment at `folder` with the wheel installed and `dependency_dirs` on its path."""
    check(run([sys.executable, "-m", "venv", "--without-pip", folder], cwd=folder.parent))
    python = folder / "bin" / "python"
    purelib = check(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=folder))
    pth = Path(purelib.stdout.strip()) / "_base_environment.pth"
    pth.write_text("".join(f"{path}\n" for path in dependency_dirs))
    pip_install = [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q"]
    check(run([*pip_install, wheel], cwd=folder.parent))
    return python


@pytest.fixture(scope="module")
def train_python(wheel, tmp_path_factory) -> Path:
    """An environment like `pip install 'transformers-aasp[train,demo]'`."""
    return install_into_new_venv(wheel, tmp_path_factory.mktemp("train") / "venv", base_site_dirs())


@pytest.fixture(scope="module")
def core_python(wheel, tmp_path_factory) -> tuple[Path, set[str]]:
    """An environment like a bare `pip install transformers-aasp`, and the distributions it leaves out."""
    root = tmp_path_factory.mktemp("core")
    left_out = extras_only_distributions(wheel)
    site_dir = site_dir_without(left_out, root / "site-packages")
    return install_into_new_venv(wheel, root / "venv", [site_dir]), left_out


# ----------------------------------------------------------------------------------------------------------------
# The installed package
# ----------------------------------------------------------------------------------------------------------------
def test_the_wheel_installs_the_package_and_all_its_data_files(train_python, tmp_path):
    result = check(run([train_python, "-c", "import transformers_aasp; print(transformers_aasp.__file__)"], tmp_path))
    installed = Path(result.stdout.strip()).parent
    assert installed.is_relative_to(train_python.parent.parent)  # the wheel's copy, not the source tree
    data_files = [
        path.relative_to(PACKAGE_SOURCE)
        for path in PACKAGE_SOURCE.rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
    ]
    assert {"reporting/templates/finetuned.md", "data/resources/audioset_class_labels_indices.csv"} <= {
        path.as_posix() for path in data_files
    }
    missing = [str(path) for path in data_files if not (installed / path).is_file()]
    assert not missing, f"not in the wheel (add them to [tool.setuptools.package-data]): {missing}"


def test_core_install_needs_only_torch_transformers_and_numpy(wheel, core_python, tmp_path):
    python, left_out = core_python
    core = {canonicalize_name(req.name) for req in wheel_requirements(wheel) if is_core(req)}
    assert core == {"torch", "transformers", "numpy", "huggingface-hub"}  # the hub: a transformers dependency
    assert {"datasets", "soundfile", "accelerate", "scikit-learn", "matplotlib", "torchaudio"} <= left_out
    script = """
import importlib, importlib.util, json, sys, tempfile
import numpy as np
import transformers_aasp
from transformers import pipeline
from transformers_aasp import AaSPConfig, AaSPFeatureExtractor, AaSPForAudioClassification

config = AaSPConfig.tiny(num_hidden_layers=1, num_labels=2, id2label={0: "low", 1: "high"})
model, extractor = AaSPForAudioClassification(config).eval(), AaSPFeatureExtractor()
stereo = 0.1 * np.random.default_rng(0).standard_normal((2, 16000)).astype(np.float32)
logits = model(**extractor(stereo[0], sampling_rate=16000, return_tensors="pt")).logits
folder = tempfile.mkdtemp()
model.save_pretrained(folder)
extractor.save_pretrained(folder)
classifier = pipeline("audio-classification", model=folder)
refusals = {}
for module in ("transformers_aasp.audio", "transformers_aasp.data", "transformers_aasp.training"):
    try:
        importlib.import_module(module)
    except ImportError as error:
        refusals[module] = str(error)
print(json.dumps({
    "refusals": refusals,
    "file": transformers_aasp.__file__,
    "importable": [name for name in sys.argv[1:] if importlib.util.find_spec(name) is not None],
    "logits": list(logits.shape),
    "pipeline": type(classifier).__name__,
    "labels": sorted(p["label"] for p in classifier({"array": stereo, "sampling_rate": 16000})),
}))
"""
    modules = ["datasets", "soundfile", "accelerate", "sklearn", "scipy", "matplotlib", "pretty_midi", "torchaudio"]
    result = check(run([python, "-c", script, *modules], tmp_path, user_environment(tmp_path)))
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(report["file"]).is_relative_to(python.parent.parent)
    assert report["importable"] == []  # the environment really lacks the extras
    assert report["logits"] == [1, 2]
    assert report["pipeline"] == "AaSPAudioClassificationPipeline"
    assert report["labels"] == ["high", "low"]
    # the parts that need the [train] extra say so instead of failing on a bare ModuleNotFoundError
    assert sorted(report["refusals"]) == [
        "transformers_aasp.audio",
        "transformers_aasp.data",
        "transformers_aasp.training",
    ]
    for message in report["refusals"].values():
        assert "needs the [train] extra; missing: " in message and "datasets" in message
        assert "pip install 'transformers-aasp[train]'" in message


def test_finetune_outside_the_source_tree_writes_the_model_card(train_python, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy2(REPO / "examples" / "finetune.py", work / "finetune.py")
    dataset = hub_layouts.build_esc50(tmp_path / "hub")
    checkpoint = hub_layouts.save_tiny_aasp_checkpoint(tmp_path / "checkpoint")
    command = [
        train_python,
        "finetune.py",
        "--model_name_or_path",
        checkpoint,
        "--output_dir",
        "out",
        "--task",
        "esc50",
        "--dataset_name",
        dataset,
        "--fold",
        "1",
        *QUICK_FINETUNE_OPTIONS,
    ]
    check(run(command, work, user_environment(tmp_path)))
    output = work / "out"
    results = json.loads((output / "results.json").read_text())
    card = (output / "README.md").read_text()
    meta = metadata_load(output / "README.md")
    assert meta["pipeline_tag"] == "audio-classification" and meta["library_name"] == "transformers"
    assert "ashraq/esc50" in meta["datasets"]
    (reported,) = meta["model-index"][0]["results"]
    assert reported["task"]["type"] == "audio-classification"
    assert reported["metrics"][0]["type"] == "accuracy"
    assert reported["metrics"][0]["value"] == pytest.approx(results["mean"], abs=1e-6)  # rounded to 6 decimals
    # the body comes from the template installed with the wheel
    installed = train_python.parent.parent.glob("lib/python*/site-packages/transformers_aasp")
    template = (next(installed) / "reporting" / "templates" / "finetuned.md").read_text()
    headings = re.findall(r"^## .+$", template, flags=re.MULTILINE)
    assert headings and all(heading in card.splitlines() for heading in headings)


def test_the_import_checks_name_the_distributions_pyproject_puts_in_each_extra():
    """`transformers_aasp.extras` tells a core install which extra to add; it must agree with pyproject.toml."""
    import tomllib

    from transformers_aasp.extras import EXTRA_INCLUDES, EXTRA_MODULES

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]

    def distributions(extra: str) -> set[str]:
        names = set()
        for requirement in map(Requirement, extras[extra]):
            if canonicalize_name(requirement.name) == canonicalize_name(DISTRIBUTION):
                names |= set().union(*(distributions(nested) for nested in requirement.extras))
            else:
                names.add(canonicalize_name(requirement.name))
        return names

    for extra, parts in EXTRA_INCLUDES.items():
        checked = {canonicalize_name(dist) for part in parts for dist in EXTRA_MODULES[part].values()}
        assert checked <= distributions(extra), (extra, checked - distributions(extra))
