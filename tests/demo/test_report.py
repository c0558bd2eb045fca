"""demo/report.py renders the JSON files the demo's steps write (fixtures here) into report.json and report.md."""

import importlib.util
import json
from pathlib import Path

import pytest

from aasp_corpora.recordings import RECORDED_TASKS
from aasp_corpora.synthetic import EMBEDDED_TASKS


REPO = Path(__file__).resolve().parents[2]
TASKS = ["keyword", "modulation"]
FEATURE_SETS = ["stats", "full"]
CORPUS = "v2-7-c80"


def load_report_script():
    spec = importlib.util.spec_from_file_location("demo_report", REPO / "demo" / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


report_script = load_report_script()


def write_json(path: Path, payload) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))


@pytest.fixture
def out(tmp_path) -> Path:
    """A demo output folder as the Makefile's steps leave it, every step on the seed-7 corpus with 80 clips/class."""
    write_json(tmp_path / "corpus.json", {"version": "v2", "seed": 7, "clips_per_class": 80})
    for task in TASKS:
        write_json(
            tmp_path / "finetune" / task / "results.json",
            {"mean": 0.9, "num_test_clips": 120, "dataset_revision": CORPUS, "single_view": {"mean": 0.85, "n": 1}},
        )
        write_json(
            tmp_path / "linear_eval" / f"linear_eval_{task}_final.json",
            {"mean": 0.8, "num_test_clips": 50, "dataset_revision": CORPUS},
        )
        for feature_set, accuracy in zip(FEATURE_SETS, [0.5, 0.75], strict=True):
            write_json(
                tmp_path / "logmel_baseline" / feature_set / f"logmel_baseline_{task}.json",
                {"accuracy": accuracy, "num_test_clips": 120, "dataset_revision": CORPUS},
            )
    metrics = [
        {"event": "start", "step": 0, "dataset_revision": CORPUS},
        {"step": 300, "loss": 0.9, "masked_patch_loss": 0.6, "global_loss": 0.01, "contrastive_loss": 3.0},
        {"event": "checkpoint", "step": 300},
    ]
    (tmp_path / "pretrain").mkdir()
    (tmp_path / "pretrain" / "metrics.jsonl").write_text("\n".join(json.dumps(record) for record in metrics))
    predictions = [
        {"file": "/c/yes_0001.wav", "true_label": "yes", "predicted_label": "yes", "score": 0.9},
        {"file": "/c/no_0002.wav", "true_label": "no", "predicted_label": "up", "score": 0.4},
    ]
    write_json(tmp_path / "classify.json", {"task": "keyword", "dataset_revision": CORPUS, "predictions": predictions})
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "figure2_window_gradients.png").write_bytes(b"png")
    (tmp_path / "logs").mkdir()
    for step, (start, end) in {
        "corpus": (1000, 1010),
        "pretrain": (1100, 1220),
        "finetune_keyword": (1220, 1400),
    }.items():
        (tmp_path / "logs" / f"{step}.time").write_text(f"{start} {end}\n")
    return tmp_path


def run_report(out: Path) -> dict:
    return report_script.main(["--output_dir", str(out), "--tasks", *TASKS, "--feature_sets", *FEATURE_SETS])


def test_each_accuracy_comes_with_its_test_clips_wilson_interval_and_corpus(out):
    report = run_report(out)
    written = json.loads((out / "report.json").read_text())
    assert written == json.loads(json.dumps(report))
    probe = written["scores"]["keyword"]["linear probe"]
    assert (probe["accuracy"], probe["n"], probe["corpus"]) == (0.8, 50, CORPUS)
    assert probe["ci95"] == pytest.approx([0.6696, 0.8876], abs=1e-4)  # Wilson interval of 40 / 50
    for task in TASKS:
        scores = written["scores"][task]
        assert scores["chance"] == pytest.approx(1 / EMBEDDED_TASKS[task].num_classes)
        assert [scores[name]["accuracy"] for name in ("fine-tune", "log-mel stats", "log-mel full")] == [
            0.9,
            0.5,
            0.75,
        ]
        assert scores["fine-tune, unshifted view only"]["accuracy"] == 0.85
        for name in ("fine-tune", "log-mel stats", "log-mel full"):
            low, high = scores[name]["ci95"]
            assert scores[name]["n"] == 120 and low < scores[name]["accuracy"] < high
    assert written["corpus"] == {"built": CORPUS, "seed": 7, "clips_per_class": 80, "recordings": []}
    assert set(written["corpus_read_by_step"].values()) == {CORPUS}
    assert len(written["corpus_read_by_step"]) == 2 + len(TASKS) * 5  # pre-training, pipeline, 5 measures per task
    assert written["steps_on_another_corpus"] == []
    assert written["pretraining"] == {
        "corpus": CORPUS,
        "steps": 300,
        "final_losses": {"loss": 0.9, "masked_patch_loss": 0.6, "global_loss": 0.01, "contrastive_loss": 3.0},
    }
    assert written["step_seconds"] == {"corpus": 10, "finetune_keyword": 180, "pretrain": 120}
    assert written["wall_seconds"] == 400
    assert written["figures"] == [str(out / "figures" / "figure2_window_gradients.png")]
    text = (out / "report.md").read_text()
    assert all(number in text for number in ("90.0 %", "80.0 %", "67.0 %", "88.8 %", "75.0 %", CORPUS, "1/2"))


def test_a_step_that_read_another_corpus_is_named(out):
    path = out / "logmel_baseline" / "stats" / "logmel_baseline_modulation.json"
    write_json(path, {"accuracy": 0.5, "num_test_clips": 120, "dataset_revision": "v2-0-c80"})
    report = run_report(out)
    assert report["steps_on_another_corpus"] == ["log-mel stats: modulation"]
    assert report["scores"]["modulation"]["log-mel stats"]["corpus"] == "v2-0-c80"
    assert "v2-0-c80" in (out / "report.md").read_text()


@pytest.mark.parametrize(
    "missing, step",
    [
        ("finetune/keyword/results.json", "finetune_keyword"),
        ("linear_eval/linear_eval_modulation_final.json", "linear_eval_modulation"),
        ("logmel_baseline/full/logmel_baseline_keyword.json", "logmel_baseline_full_keyword"),
        ("pretrain/metrics.jsonl", "pretrain"),
        ("classify.json", "classify"),
        ("corpus.json", "corpus"),
    ],
)
def test_a_missing_step_output_is_a_clear_error_naming_the_step_and_its_log(out, missing, step):
    (out / missing).unlink()
    with pytest.raises(FileNotFoundError, match=f"step '{step}'") as error:
        run_report(out)
    assert str(out / missing) in str(error.value) and str(out / "logs" / f"{step}.log") in str(error.value)
    assert not (out / "report.md").exists()


def write_real_task(out: Path, task: str, revision: str) -> None:
    """The outputs of the fine-tune, linear probe and both baselines of a real-recordings task, all on `revision`."""
    write_json(out / "recordings.json", {"version": "r1", "seed": 7})
    write_json(
        out / "finetune" / task / "results.json", {"mean": 0.6, "num_test_clips": 315, "dataset_revision": revision}
    )
    write_json(
        out / "linear_eval" / f"linear_eval_{task}_final.json",
        {"mean": 0.5, "num_test_clips": 315, "dataset_revision": revision},
    )
    for feature_set in FEATURE_SETS:
        write_json(
            out / "logmel_baseline" / feature_set / f"logmel_baseline_{task}.json",
            {"accuracy": 0.55, "num_test_clips": 315, "dataset_revision": revision},
        )


def test_a_real_recordings_task_is_reported_after_the_embedded_ones_and_checked_against_its_own_corpus(out):
    write_real_task(out, "sample_family", "recordings-r1-7")
    args = ["--output_dir", str(out), "--tasks", *TASKS, "--real_tasks", "sample_family"]
    report = report_script.main([*args, "--feature_sets", *FEATURE_SETS])
    assert list(report["scores"]) == [*TASKS, "sample_family"]
    real = report["scores"]["sample_family"]
    assert real["chance"] == pytest.approx(1 / RECORDED_TASKS["sample_family"].num_classes)
    assert (real["fine-tune"]["accuracy"], real["fine-tune"]["n"]) == (0.6, 315)
    assert report["corpus"]["recordings"] == ["recordings-r1-7"] and report["steps_on_another_corpus"] == []
    assert "recordings-r1-7" in (out / "report.md").read_text()


def test_a_real_recordings_step_on_another_build_is_named(out):
    write_real_task(out, "sample_family", "recordings-r1-0")
    args = ["--output_dir", str(out), "--tasks", *TASKS, "--real_tasks", "sample_family"]
    report = report_script.main([*args, "--feature_sets", *FEATURE_SETS])
    assert report["steps_on_another_corpus"] == [
        f"{measure}: sample_family" for measure in ("fine-tune", "linear probe", "log-mel full", "log-mel stats")
    ]
