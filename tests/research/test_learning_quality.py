# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""research/learning_quality.py, the evidence script of the learning-quality work, run as a user runs it
(`python -m research.learning_quality`), and research/shift_views.py on the fine-tuned models it saves.

The full run takes hours; these tests run every phase (pre-training through the package's Pretrainer, the linear
probe, fine-tuning through the package's `fine_tune`, the baselines and the analyses) on a 12-clips-per-class corpus
with a few optimisation steps, so that a change that breaks the script (an import, a phase, the report) fails here
and not in a two-hour rerun. The scores of so small a run mean nothing and are only checked to be accuracies.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


pytestmark = [
    pytest.mark.integration,  # the script runs every phase in a subprocess
    pytest.mark.timeout(1800),  # 5 pre-training and 18 fine-tuning runs of the package take minutes on a shared CPU
]
REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = "research.learning_quality"
SHIFT_VIEWS_SCRIPT = "research.shift_views"
TASKS = ("instrument", "keyword", "modulation")
# 12 clips per class -> 2 test clips per class (split_sizes: 70/15/15 rounded); 8 / 10 / 5 classes
TEST_CLIPS = {"instrument": 16, "keyword": 20, "modulation": 10}
QUICK_RUN = [
    *("--clips_per_class", "12", "--seeds", "0", "--arms", "plain", "aape_v1", "aape", "aape_peak", "paper"),
    *("--finetune_arms", "plain", "aape", "aape_peak"),
    *("--pretrain_steps", "4", "--finetune_epochs", "1", "--workers", "1"),
    *("--probe_max_epochs", "20", "--weight_decay_grid", "1e-4", "1e-2"),
    "--pretrain_args",
    "--per_device_batch_size 4 --crop_frames 208 --num_workers 0 --norm_stats_clips 20 --logging_steps 1",
]
PRETRAINED_ARMS = ("plain", "aape_v1", "aape", "aape_peak", "paper")


def run_script(arguments: list[str], tmp_path: Path, script: str = SCRIPT) -> subprocess.CompletedProcess:
    """`python -m <script> <arguments>` with the repository root importable, in `tmp_path`."""
    python_path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    environment = {
        **os.environ,
        "AASP_CORPUS_DIR": str(tmp_path / "corpus"),
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": python_path,
    }
    return subprocess.run(
        [sys.executable, "-m", script, *arguments],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=1800,  # every phase, 5 pre-training and 18 fine-tuning runs, on a shared CPU
    )


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("learning_quality")
    results_dir = tmp_path / "results"
    arguments = [*QUICK_RUN, "--work_dir", str(tmp_path / "work"), "--results_dir", str(results_dir)]
    completed = run_script(arguments, tmp_path)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed, json.loads((results_dir / "learning_quality.json").read_text()), results_dir


def assert_accuracies(per_task: dict, seeds: tuple[str, ...] = ("0",)) -> None:
    assert set(per_task) == set(TASKS)
    for task in TASKS:
        assert set(per_task[task]) == set(seeds)
        assert all(0.0 <= value <= 1.0 for value in per_task[task].values())


def assert_scored_on_the_test_split(entry: dict, task: str) -> None:
    """An accuracy with its n (the task's test clips), number correct and 95 % Wilson interval."""
    assert entry["n"] == TEST_CLIPS[task]
    assert entry["num_correct"] == round(entry["accuracy"] * entry["n"])
    assert 0.0 <= entry["ci95_low"] <= entry["accuracy"] <= entry["ci95_high"] <= 1.0


def test_every_phase_runs_and_reports_probe_finetune_and_both_baselines(quick_run):
    completed, results, results_dir = quick_run
    assert set(results["linear_probe"]) == {*PRETRAINED_ARMS, "random_plain", "random_aape"}
    for per_task in results["linear_probe"].values():
        assert_accuracies(per_task)
    for per_task in results["linear_probe_details"].values():
        for task in TASKS:
            assert_scored_on_the_test_split(per_task[task]["0"], task)
            assert per_task[task]["0"]["weight_decay"] in (1e-4, 1e-2)  # chosen on validation from the grid
    assert {(run["arm"], run["max_steps"]) for run in results["pretrain_runs"]} == {
        (arm, 4) for arm in PRETRAINED_ARMS
    }
    assert set(results["finetune"]) == {
        f"{init}-{arm}" for init in ("scratch", "pretrained") for arm in ("plain", "aape", "aape_peak")
    }
    for per_task in results["finetune"].values():
        assert_accuracies(per_task)
    for run in results["finetune_runs"]:
        assert run["n"] == TEST_CLIPS[run["task"]]
        assert run["num_correct"] == round(run["accuracy"] * run["n"])
    for feature_set in ("stats", "full"):
        for task in TASKS:
            assert_scored_on_the_test_split(results["baseline"][feature_set][task], task)
    assert "| aape − plain |" in completed.stdout
    assert "| aape_peak − aape |" in completed.stdout
    assert "| aape_peak − paper |" in completed.stdout
    assert "| log-mel baseline (stats) |" in completed.stdout
    written = (results_dir / "learning_quality.md").read_text()
    assert "| aape − plain |" in written and "| log-mel baseline (full) |" in written


def assert_beta_tracking(tracking: dict) -> None:
    assert set(tracking) == {"constant_beta", "pearson", "spearman", "clip_median_beta_hz_by_rate"}
    by_rate = tracking["clip_median_beta_hz_by_rate"]
    assert set(by_rate) == {"6.25", "12.5", "18.75", "25", "37.5"}
    if tracking["constant_beta"]:  # no correlation is defined
        assert tracking["spearman"] is None and len(set(by_rate.values())) == 1
    else:
        assert -1.0 <= tracking["spearman"] <= 1.0


def test_beta_tracking_is_reported_at_random_init_after_pretraining_and_after_finetuning(quick_run):
    completed, results, _ = quick_run
    # every AaPE arm, the anchored default and the un-anchored paper arm included, before and after pre-training
    assert set(results["beta_tracking_pretraining"]) == {"aape_v1", "aape", "aape_peak", "paper"}
    for stages in results["beta_tracking_pretraining"].values():
        assert set(stages) == {"random_init", "pretrained"}
        for tracking in stages.values():
            assert_beta_tracking(tracking)
    assert set(results["beta_tracking_supervised"]) == {
        f"{init}-{arm}-s0" for init in ("scratch", "pretrained") for arm in ("aape", "aape_peak")
    }
    for tracking in results["beta_tracking_supervised"].values():
        assert_beta_tracking(tracking)
    assert "| arm | random init | pre-trained | fine-tuned from random init | fine-tuned from pre-trained |" in (
        completed.stdout
    )
    for arm in ("aape_peak", "paper"):
        assert f"| {arm} | " in completed.stdout


def test_the_beta_spread_and_figure_4_are_written(quick_run):
    _, results, results_dir = quick_run
    for arm in ("aape_v1", "aape", "aape_peak", "paper"):
        low, high = results["beta_spread_pretrained"][arm]["range_hz"]
        assert 3.125 <= low <= high <= 50.0  # beta stays inside the alias band, pi / 16 ... pi rad/frame at 100 Hz
    for name in ("pretrained", "modulation_supervised", "pretrained_aape_peak", "modulation_supervised_aape_peak"):
        assert (results_dir / f"learning_quality_figures_{name}" / "figure4_sblu_parameters.png").stat().st_size > 0


def test_shift_stability_says_how_many_clips_it_used(quick_run):
    _, results, _ = quick_run
    for arm in PRETRAINED_ARMS:
        per_task = results["shift_stability"][arm]
        for task in TASKS:
            used = per_task[task]["clips"]
            assert 0 <= used <= TEST_CLIPS[task]
            # a task without a long enough clip has no shifts rather than a crash
            assert set(per_task[task]) == ({"clips"} if used == 0 else {"clips", "1", "3", "5", "8", "15"})


def test_a_phase_that_needs_an_arm_not_pretrained_is_refused_up_front(tmp_path):
    completed = run_script(["--arms", "aape", "--work_dir", str(tmp_path / "work")], tmp_path)
    assert completed.returncode == 2
    assert (
        "--phases finetune reads the pre-trained encoders of plain, aape, aape_peak (--finetune_arms); add ['plain', "
        "'aape_peak'] to --arms" in completed.stderr
    )
    assert not (tmp_path / "work").exists()


def test_shift_views_scores_every_saved_fine_tune_with_each_view_count(quick_run, tmp_path):
    _, _, results_dir = quick_run
    work_dir = results_dir.parent / "work"
    arguments = ["--learning_quality_dir", str(work_dir), "--views", "1", "4", "--results_dir", str(tmp_path)]
    completed = run_script([*arguments, "--result_name", "views"], tmp_path, SHIFT_VIEWS_SCRIPT)
    assert completed.returncode == 0, completed.stderr[-3000:]
    rows = json.loads((tmp_path / "views.json").read_text())["learning_quality"]
    assert set(rows) == {
        f"{init}-{arm}-{task}-s0"
        for init in ("scratch", "pretrained")
        for arm in ("plain", "aape", "aape_peak")
        for task in TASKS
    }
    for row in rows.values():
        assert row["n"] == TEST_CLIPS[row["task"]]
        assert set(row["views"]) == {"1", "4"}
        assert row["views"]["1"]["minus_one_view"] == [0.0, 0.0]
        for scores in row["views"].values():
            assert scores["accuracy"] * row["n"] / 100 == pytest.approx(round(scores["accuracy"] * row["n"] / 100))
        gain = row["views"]["4"]["accuracy"] - row["views"]["1"]["accuracy"]
        assert row["views"]["4"]["minus_one_view"][0] == pytest.approx(gain)
        assert 0.0 <= row["label_change_rate"] <= 1.0


def test_shift_views_needs_models_to_score(tmp_path):
    completed = run_script(["--views", "4"], tmp_path, SHIFT_VIEWS_SCRIPT)
    assert completed.returncode == 2
    assert "give --demo_runs, --learning_quality_dir or both" in completed.stderr
