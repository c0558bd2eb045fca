"""demo/Makefile end to end at a tiny setting: one task, one baseline, a few pre-training steps, one epoch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aasp_corpora.synthetic import CACHE_DIR_ENV, corpus_name


REPO = Path(__file__).resolve().parents[2]
CORPUS_SEED, CORPUS_CLIPS = 7, 6
TINY = [
    f"PYTHON={sys.executable}",
    f"CORPUS_SEED={CORPUS_SEED}",
    f"CORPUS_CLIPS={CORPUS_CLIPS}",
    "TASKS=modulation",
    "REAL_TASKS=",
    "FEATURE_SETS=stats",
    "CLASSIFY_TASK=modulation",
    "CLASSIFY_CLIPS=2",
    "FINETUNE_ARGS=--num_train_epochs 1",
]
TINY_PRETRAINING = "PRETRAIN_ARGS=--max_steps 4 --warmup_steps 1 --norm_stats_clips 20"


@pytest.fixture(scope="module")
def environment(tmp_path_factory):
    """The demo's environment with a corpus cache of its own, shared by the runs of this module."""
    return {**os.environ, CACHE_DIR_ENV: str(tmp_path_factory.mktemp("demo_corpus"))}


def run_demo(out: Path, environment: dict, *settings: str) -> subprocess.CompletedProcess:
    command = ["make", "--no-print-directory", "-C", str(REPO / "demo"), "-j2", f"OUT={out}", *TINY, *settings]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)


@pytest.mark.integration
def test_every_step_reads_the_corpus_of_the_seed_and_the_report_says_so(tmp_path, environment):
    result = run_demo(tmp_path, environment, TINY_PRETRAINING)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    expected = corpus_name(CORPUS_SEED, CORPUS_CLIPS)
    assert report["corpus"]["built"] == expected
    assert set(report["corpus_read_by_step"]) == {
        "pretrain",
        "classify",
        "fine-tune: modulation",
        "fine-tune, unshifted view only: modulation",
        "linear probe: modulation",
        "log-mel stats: modulation",
    }
    assert set(report["corpus_read_by_step"].values()) == {expected}
    scores = report["scores"]["modulation"]
    assert {scores[name]["n"] for name in ("fine-tune", "linear probe", "log-mel stats")} == {5}  # 1 test clip/class
    assert len(report["pipeline"]["predictions"]) == 2
    assert {Path(path).name for path in report["figures"]} == {
        "figure2_window_gradients.png",
        "figure4_sblu_parameters.png",
        "training_curves.png",
    }
    assert (tmp_path / "report.md").read_text() in result.stdout


@pytest.mark.integration
def test_a_failing_step_stops_the_demo_and_shows_the_end_of_its_log(tmp_path, environment):
    result = run_demo(tmp_path, environment, "PRETRAIN_ARGS=--max_steps not-a-number")
    assert result.returncode != 0
    log = tmp_path / "logs" / "pretrain.log"
    assert f"FAILED: pretrain (exit status 2), end of {log}" in result.stderr
    assert "--max_steps" in result.stderr and "not-a-number" in log.read_text()
    assert not list(tmp_path.glob("logs/finetune_*")) and not (tmp_path / "report.md").exists()
