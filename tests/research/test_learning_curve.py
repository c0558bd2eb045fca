# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""research/learning_curve.py run as a user runs it (`python -m research.learning_curve`), at a tiny setting: both
arms, one seed, snapshots at 0 and 2 pre-training steps, the modulation task of a 6-clips-per-class corpus.

The scores of so small a run mean nothing. The test checks the results' structure, that every test scoring was
registered before it happened and marked after, that a re-run reuses the stored scores instead of scoring again,
and that a second scoring of the same configuration is refused before any pre-training starts.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aasp_corpora.synthetic import EMBEDDED_TASKS, split_sizes


REPO_ROOT = Path(__file__).resolve().parents[2]
CLIPS_PER_CLASS = 6
TINY_RUN = [
    *("--tasks", "modulation", "--arms", "aape", "plain", "--seeds", "0", "--steps", "0", "2"),
    *("--clips_per_class", str(CLIPS_PER_CLASS), "--bootstrap_resamples", "500"),
    *("--probe_max_epochs", "20", "--weight_decay_grid", "1e-4", "1e-2"),
    "--pretrain_args",
    "--num_workers 0 --per_device_batch_size 4 --crop_frames 208 --norm_stats_clips 20 --logging_steps 1",
]


def run_learning_curve(tmp_path: Path, work_dir: str, *extra: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "AASP_CORPUS_DIR": str(tmp_path / "corpus"), "HF_HUB_OFFLINE": "1"}
    arguments = [
        *TINY_RUN,
        *("--work_dir", str(tmp_path / work_dir), "--output", str(tmp_path / "results" / "curve")),
        *("--registry_dir", str(tmp_path / "registry"), *extra),
    ]
    return subprocess.run(
        [sys.executable, "-m", "research.learning_curve", *arguments],
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPO_ROOT,
        timeout=600,
    )


def check_accuracy(entry: dict, n: int) -> None:
    assert entry["n"] == n and entry["num_correct"] == round(entry["accuracy"] * n)
    assert 0.0 <= entry["ci95_low"] <= entry["accuracy"] <= entry["ci95_high"] <= 1.0


def check_comparison(comparison: dict, n: int) -> None:
    assert comparison["seeds"] == [0] and comparison["difference_over_seeds"]["n"] == 1
    boot = comparison["bootstrap_over_clips"]
    assert boot["ci95_low"] <= boot["mean"] <= boot["ci95_high"] and boot["num_resamples"] == 500
    assert boot["mean"] == pytest.approx(comparison["difference_over_seeds"]["mean"], abs=1e-12)
    [mcnemar] = comparison["mcnemar_per_seed"].values()
    assert mcnemar["n"] == n and 0.0 < mcnemar["p_value"] <= 1.0
    # the discordant clips give the accuracy difference exactly
    assert (mcnemar["only_a_correct"] - mcnemar["only_b_correct"]) / n == pytest.approx(boot["mean"], abs=1e-12)


@pytest.mark.slow
def test_tiny_learning_curve_registers_scores_and_refuses_a_second_scoring(tmp_path):
    run = run_learning_curve(tmp_path, "work")
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads((tmp_path / "results" / "curve.json").read_text())
    assert (tmp_path / "results" / "curve.md").is_file()
    n = EMBEDDED_TASKS["modulation"].num_classes * split_sizes(CLIPS_PER_CLASS)["test"]

    summary = results["tasks"]["modulation"]
    assert summary["num_test_clips"] == n
    for feature_set in ("stats", "full"):
        check_accuracy(summary["baselines"][feature_set], n)
    for arm in ("aape", "plain"):
        assert set(summary["linear_probe"][arm]) == {"0", "2"}
        for step in ("0", "2"):
            [entry] = summary["linear_probe"][arm][step]["per_seed"].values()
            check_accuracy(entry, n)
            assert entry["weight_decay"] in (1e-4, 1e-2) and 0.0 <= entry["validation_accuracy"] <= 1.0
            over = summary["linear_probe"][arm][step]["over_seeds"]
            assert over["validation_mean"] == entry["validation_accuracy"]  # one seed: its own
        check_comparison(summary["trained_minus_random_init"][arm]["2"], n)
        check_comparison(summary["probe_minus_baseline"][arm]["2"]["stats"], n)
    assert set(summary["aape_minus_plain"]) == {"0", "2"}
    check_comparison(summary["aape_minus_plain"]["2"], n)
    runs = {(r["arm"], r["seed"]): r for r in results["pretraining_runs"]}
    assert set(runs) == {("aape", 0), ("plain", 0)}
    assert all(r["max_steps"] == 2 and r["seconds_per_step"] > 0 for r in runs.values())

    # One record, written before scoring, holding every unit of the run, each marked scored with its accuracy.
    [record_path] = list((tmp_path / "registry").glob("*.json"))
    assert results["registrations"] == {"modulation": record_path.name}
    record = json.loads(record_path.read_text())
    assert record["script"] == "research.learning_curve" and record["hypothesis"]
    assert record["configuration"]["task"] == "modulation" and record["configuration"]["corpus_seed"] == 0
    assert record["configuration"]["pretraining"]["optimization"]["max_steps"] == 2
    assert len(record["units"]) == 2 * 2 + 2  # arms x steps probes, plus the two baselines
    assert all(unit["scored_at"] is not None for unit in record["units"])
    assert all(unit["scored_at"] >= record["registered_at"] for unit in record["units"])
    probe_units = {(u["arm"], u["step"]): u["result"] for u in record["units"] if u["model"] == "linear_probe"}
    scored = summary["linear_probe"]["aape"]["2"]["per_seed"]["0"]
    assert probe_units[("aape", 2)]["accuracy"] == scored["accuracy"] and probe_units[("aape", 2)]["n"] == n

    # The same command again reuses the stored scores: no new record, the same numbers.
    again = run_learning_curve(tmp_path, "work")
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(list((tmp_path / "registry").glob("*.json"))) == 1
    assert json.loads((tmp_path / "results" / "curve.json").read_text())["tasks"] == results["tasks"]

    # Without the stored scores the test split would be scored a second time: refused, before any pre-training.
    refused = run_learning_curve(tmp_path, "fresh_work")
    assert refused.returncode == 1 and "were already scored" in refused.stderr and "--rescore" in refused.stderr
    assert not (tmp_path / "fresh_work" / "pretrain").exists()
    assert len(list((tmp_path / "registry").glob("*.json"))) == 1


def test_a_speech_cap_needs_the_recordings_pool(tmp_path):
    run = run_learning_curve(tmp_path, "work", "--pool_speech_clips", "768")
    assert run.returncode == 2
    assert "--pool_speech_clips caps the speech of --pool recordings, not of --pool embedded" in run.stderr
