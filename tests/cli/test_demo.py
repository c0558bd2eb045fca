# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""aasp-demo: config loading, flag building, step running and report formatting (the full run is not a test)."""

import io
import json
import re
import sys
from pathlib import Path

import pytest

from transformers_aasp.cli import demo
from transformers_aasp.cli.demo import (
    DEFAULT_CONFIG,
    DemoConfig,
    DemoError,
    DemoReport,
    Prediction,
    TaskScores,
    find_source_checkout,
    format_duration,
    format_report,
    last_training_record,
    load_demo_config,
    pick_one_per_label,
    run_logged,
    script_flags,
)
from transformers_aasp.data.corpus import EMBEDDED_TASKS
from transformers_aasp.modeling_aasp import PRETRAINING_LOSS_TERMS


REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = DEFAULT_CONFIG  # the one shipped in the package


def fake_checkout(folder: Path, scripts: dict[str, str] | None = None) -> Path:
    """A folder laid out like a source checkout: every example script the demo runs (by default, empty ones)."""
    (folder / "examples").mkdir(parents=True, exist_ok=True)
    for script in demo.SCRIPTS:
        (folder / "examples" / script).write_text((scripts or {}).get(script, ""))
    return folder


def write_config(tmp_path, text):
    path = tmp_path / "demo.yaml"
    path.write_text(text)
    return path


# ----------------------------------------------------------------------------------------------------------------
# Config
# ----------------------------------------------------------------------------------------------------------------
def test_shipped_config_is_package_data_and_finds_the_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not a checkout: found through the editable install this suite runs from
    assert DEMO_CONFIG.parent == Path(demo.__file__).parent
    config = load_demo_config()
    assert config.output_dir == tmp_path / "outputs" / "demo"  # relative to the current directory
    assert config.source_dir == REPO and config.examples_dir == REPO / "examples"
    for script in demo.SCRIPTS:
        assert (config.examples_dir / script).is_file(), script
    assert Path(config.pretrain["config"]) == REPO / "configs" / "aasp_tiny.yaml"  # relative to the checkout
    assert sorted(config.tasks) == sorted(EMBEDDED_TASKS)
    assert config.classify["task"] in config.tasks
    assert config.encoder_dir == config.output_dir / "pretrain" / "final"
    assert config.finetune_dir("keyword") == config.output_dir / "finetune" / "keyword"
    assert config.baseline["args"]["feature_set"] in ("stats", "full")


def test_the_current_directory_is_the_first_checkout_looked_for(tmp_path, monkeypatch):
    checkout = fake_checkout(tmp_path / "clone")
    monkeypatch.chdir(checkout)
    assert find_source_checkout() == checkout
    assert load_demo_config(overrides=["pretrain.config=null"]).source_dir == checkout


def test_no_checkout_is_explained(tmp_path):
    incomplete = tmp_path / "incomplete"
    (incomplete / "examples").mkdir(parents=True)
    (incomplete / "examples" / "pretrain.py").write_text("")
    with pytest.raises(DemoError, match=r"source checkout .*which a wheel install does not include") as error:
        find_source_checkout((tmp_path, incomplete))
    assert f"found none in {tmp_path} or {incomplete}" in str(error.value)
    assert "--source_dir PATH" in str(error.value)


def test_source_dir_from_the_command_line_or_the_config(tmp_path):
    checkout = fake_checkout(tmp_path / "clone")
    (checkout / "tiny.yaml").write_text("model: {}\n")
    config = load_demo_config(DEMO_CONFIG, source_dir=checkout, overrides=["pretrain.config=tiny.yaml"])
    assert config.source_dir == checkout and config.pretrain["config"] == str(checkout / "tiny.yaml")
    # in a config file, a relative source_dir is relative to the file
    path = write_config(tmp_path, "tasks: [keyword]\nsource_dir: clone\n")
    assert load_demo_config(path).source_dir == checkout
    with pytest.raises(DemoError, match=r"--source_dir .* is not a transformers-aasp source checkout"):
        load_demo_config(DEMO_CONFIG, source_dir=tmp_path / "elsewhere")
    with pytest.raises(ValueError, match=r"pretrain.config .*missing.yaml does not exist"):
        load_demo_config(DEMO_CONFIG, source_dir=checkout, overrides=["pretrain.config=missing.yaml"])


def test_print_config_shows_the_packaged_file(capsys):
    assert demo.main(["--print_config"]) == 0
    assert capsys.readouterr().out == DEMO_CONFIG.read_text()


def test_output_dir_and_overrides(tmp_path):
    config = load_demo_config(
        DEMO_CONFIG,
        output_dir=str(tmp_path / "run"),
        overrides=["pretrain.args.max_steps=7", "tasks=[keyword]", "classify.task=keyword", "offline=false"],
    )
    assert config.output_dir == tmp_path / "run"
    assert config.pretrain["args"]["max_steps"] == 7  # parsed as YAML: an int, not "7"
    assert config.tasks == ["keyword"]
    assert config.offline is False


@pytest.mark.parametrize(
    "text, message",
    [
        ("tasks: [keyword]\nbogus: 1\n", r"unknown key\(s\) \['bogus'\]"),
        ("tasks: [keyword]\npretrain: {max_step: 3}\n", r"unknown key\(s\) \['max_step'\] in section 'pretrain'"),
        ("tasks: [keyword]\nfinetune: [1, 2]\n", "section 'finetune' must be a mapping"),
        ("tasks: [speech]\n", r"unknown task\(s\) \['speech'\]"),
        ("tasks: []\n", "'tasks' must list at least one embedded task"),
        ("tasks: [keyword]\nclassify: {task: modulation}\n", "classify.task 'modulation' must be one of"),
        ("tasks: [keyword]\nclassify: {num_clips: 0}\n", "classify.num_clips must be a positive integer"),
        ("tasks: [keyword]\nfinetune: {args: {output_dir: x}}\n", "finetune.args.output_dir is set by the demo"),
        (
            "tasks: [keyword]\nbaseline: {args: {corpus_clips_per_class: 6}}\n",
            r"baseline.args \['corpus_clips_per_class'\] are set by the demo",
        ),
        (
            "tasks: [keyword]\nfinetune: {args: {corpus_clips_per_class: 6}}\n",
            "finetune.args.corpus_clips_per_class is set by the demo from corpus.clips_per_class",
        ),
        ("tasks: [keyword]\ncorpus: {clips_per_class: 2}\n", "corpus.clips_per_class must be an integer >= 3"),
        (
            "tasks: [keyword]\nbaseline: {feature_set: full}\n",
            r"unknown key\(s\) \['feature_set'\] in section 'baseline'",
        ),
        ("- a list\n", "expected a mapping at the top level"),
    ],
)
def test_bad_configs_are_rejected_with_a_clear_message(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        load_demo_config(write_config(tmp_path, text))


def test_missing_config_and_bad_override(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_demo_config(tmp_path / "nope.yaml")
    with pytest.raises(ValueError, match=r"section\.key=value"):
        load_demo_config(DEMO_CONFIG, overrides=["pretrain.args.max_steps"])


def test_script_flags():
    flags = script_flags(
        {
            "max_steps": 100,
            "use_cpu": True,
            "push_to_hub": False,
            "seed": None,
            "learning_rate": 1e-3,
            "eval_strategy": "no",
            "alphas": [0.1, 0.3],
            "model_overrides": {"num_mask_clones": 2},
        }
    )
    assert flags == [
        "--max_steps",
        "100",
        "--use_cpu",
        "--learning_rate",
        "0.001",
        "--eval_strategy",
        "no",
        "--alphas",
        "0.1",
        "0.3",
        "--model_overrides",
        '{"num_mask_clones": 2}',
    ]
    assert script_flags(None) == []


# ----------------------------------------------------------------------------------------------------------------
# Running steps
# ----------------------------------------------------------------------------------------------------------------
def test_run_logged_streams_and_saves_the_output(tmp_path):
    stream = io.StringIO()
    log = tmp_path / "logs" / "step.log"
    run_logged([sys.executable, "-c", "print('progress 1/2'); print('done')"], log, {}, stream=stream)
    assert "progress 1/2\ndone\n" in stream.getvalue()
    assert log.read_text() == "progress 1/2\ndone\n"


def test_run_logged_failure_names_the_log_and_shows_its_tail(tmp_path):
    log = tmp_path / "failing.log"
    script = tmp_path / "failing.py"
    script.write_text("import sys\nprint('something broke')\nsys.exit(3)\n")
    with pytest.raises(
        DemoError, match=r"(?s)`failing.py` exited with status 3; full log: .*failing.log.*something broke"
    ):
        run_logged([sys.executable, str(script)], log, {}, stream=io.StringIO())


def test_missing_examples_folder_is_explained(tmp_path):
    config = DemoConfig(output_dir=tmp_path, source_dir=tmp_path / "no_checkout", tasks=["keyword"])
    with pytest.raises(DemoError, match="run it from the repository"):
        demo.script_command(config, "pretrain.py", [])


def test_step_environment_is_offline_and_points_at_the_corpus(tmp_path):
    config = DemoConfig(
        output_dir=tmp_path, source_dir=tmp_path, tasks=["keyword"], corpus={"cache_dir": str(tmp_path / "corpus")}
    )
    environment = demo.step_environment(config)
    assert environment["HF_HUB_OFFLINE"] == "1" and environment["HF_DATASETS_OFFLINE"] == "1"
    assert environment["AASP_CORPUS_DIR"] == str(tmp_path / "corpus")


FAKE_BASELINE_SCRIPT = """
import json, sys
from pathlib import Path
args = sys.argv[1:]
output_dir = Path(args[args.index("--output_dir") + 1])
benchmark = args[args.index("--benchmark") + 1]
output_dir.mkdir(parents=True, exist_ok=True)
(output_dir / f"logmel_baseline_{benchmark}.json").write_text(json.dumps({"argv": args, "accuracy": 0.5}))
"""


def test_baseline_step_runs_the_script_on_the_demo_corpus(tmp_path):
    fake_checkout(tmp_path, {"logmel_baseline.py": FAKE_BASELINE_SCRIPT})
    config = DemoConfig(
        output_dir=tmp_path / "out",
        source_dir=tmp_path,
        tasks=["keyword"],
        corpus={"clips_per_class": 6},
        baseline={"args": {"feature_set": "stats"}},
        linear_eval={"args": {"num_seeds": 1}},
    )
    results = demo.logmel_baseline(config, "keyword", {})
    argv = results["argv"]
    assert argv[argv.index("--benchmark") + 1] == "keyword"
    assert argv[argv.index("--output_dir") + 1] == str(tmp_path / "out" / "logmel_baseline")
    assert argv[argv.index("--corpus_clips_per_class") + 1] == "6"  # the clips every other step is scored on
    assert argv[argv.index("--feature_set") + 1] == "stats"
    assert "--num_seeds" not in argv
    assert (tmp_path / "out" / "logs" / "logmel_baseline_keyword.log").is_file()


def test_every_step_gets_the_demo_corpus_size():
    config = DemoConfig(output_dir=Path("out"), source_dir=Path(), tasks=["keyword"], corpus={"clips_per_class": 40})
    assert demo.corpus_size_flags(config, "pretrain") == ["--embedded_clips_per_class", "40"]
    for step in ("baseline", "linear_eval", "finetune"):
        assert demo.corpus_size_flags(config, step) == ["--corpus_clips_per_class", "40"]
    assert (
        demo.corpus_size_flags(DemoConfig(output_dir=Path("out"), source_dir=Path(), tasks=["keyword"]), "finetune")
        == []
    )


def test_baseline_step_without_results_file_fails_clearly(tmp_path):
    fake_checkout(tmp_path, {"logmel_baseline.py": "print('nothing written')\n"})
    config = DemoConfig(output_dir=tmp_path / "out", source_dir=tmp_path, tasks=["keyword"])
    with pytest.raises(DemoError, match=r"logmel_baseline\.py wrote no"):
        demo.logmel_baseline(config, "keyword", {})


def test_last_training_record_ignores_events(tmp_path):
    path = tmp_path / "metrics.jsonl"
    records = [
        {"event": "start", "step": 0},
        {"step": 5, "loss": 2.0},
        {"step": 10, "loss": 1.0},
        {"event": "checkpoint", "step": 10},
    ]
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    assert last_training_record(path) == {"step": 10, "loss": 1.0}
    assert last_training_record(tmp_path / "missing.jsonl") == {}


def test_pick_one_per_label_cycles_through_labels():
    rows = [{"label": label, "i": i} for i, label in enumerate("aaabbc")]
    picked = pick_one_per_label(rows, 5)
    assert [(row["label"], row["i"]) for row in picked] == [("a", 0), ("b", 3), ("c", 5), ("a", 1), ("b", 4)]
    assert len(pick_one_per_label(rows, 10)) == 6


# ----------------------------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------------------------
def test_task_scores_chance():
    assert TaskScores("keyword", 10, linear_eval=0.11, finetune=0.5).above_chance
    assert not TaskScores("keyword", 10, linear_eval=0.10, finetune=0.5).above_chance  # equal to chance is not above
    assert not TaskScores("keyword", 10).above_chance  # nothing measured
    assert TaskScores("modulation", 5).chance == pytest.approx(0.2)


def test_finetune_below_baseline_flag():
    assert TaskScores("keyword", 10, linear_eval=0.3, finetune=0.4, baseline=0.5).finetune_below_baseline
    assert not TaskScores("keyword", 10, linear_eval=0.3, finetune=0.5, baseline=0.5).finetune_below_baseline
    assert not TaskScores("keyword", 10, finetune=0.4).finetune_below_baseline  # no baseline measured
    assert not TaskScores("keyword", 10, baseline=0.5).finetune_below_baseline  # no fine-tune measured


def test_format_duration():
    assert format_duration(725.4) == "12 min 05 s"
    assert format_duration(42) == "42 s"


def make_report(tmp_path):
    return DemoReport(
        wall_seconds=731.0,
        load_average=(1.0, 1.5, 2.0),
        cpu_count=2,
        pretraining={"step": 120, "loss": 1.25, **dict.fromkeys(PRETRAINING_LOSS_TERMS[1:], 0.5)},
        scores=[
            TaskScores("instrument", 8, 0.55, 0.625, baseline=0.5, baseline_ci95=(0.36, 0.64), num_test_clips=48),
            TaskScores("modulation", 5, 0.2, 0.9, baseline=0.95, baseline_ci95=(0.85, 0.99), num_test_clips=45),
        ],
        predictions=[
            Prediction(str(tmp_path / "one_0001.wav"), "one", "one", 0.91),
            Prediction(str(tmp_path / "two_0002.wav"), "two", "three", 0.40),
        ],
        files={"pre-trained encoder": "/out/pretrain/final"},
        step_seconds={"pre-training": 300.0},
    )


def table_row(text: str, task: str) -> str:
    """The task's line in the score table (the lines after its header, up to the first blank line)."""
    lines = text.splitlines()
    start = next(index for index, line in enumerate(lines) if "linear eval" in line) + 1
    table = lines[start : lines.index("", start)]
    (row,) = [line for line in table if line.split()[:1] == [task]]
    return row


def assert_row(text: str, task: str, *cells: str) -> None:
    """The task's row holds `cells` in this order, whatever the spacing between them."""
    pattern = r"\s+".join([re.escape(task), *map(re.escape, cells)])
    assert re.fullmatch(r"\s*" + pattern + r"\s*", table_row(text, task)), table_row(text, task)


def test_format_report(tmp_path):
    text = format_report(make_report(tmp_path))
    assert "Finished in 12 min 11 s on 2 CPU core(s) (load average at the end: 1.0, 1.5, 2.0)." in text
    assert "Pre-training: 120 steps, final loss 1.250" in text
    header = next(line for line in text.splitlines() if "linear eval" in line)
    columns = [
        "task",
        "log-mel baseline",
        "linear eval",
        "fine-tune",
        "chance",
        "above chance",
        "fine-tune vs baseline",
    ]
    assert [header.index(name) for name in columns] == sorted(header.index(name) for name in columns)
    # task, baseline, linear eval, fine-tune, chance, above chance, fine-tune vs baseline
    assert_row(text, "instrument", "50.0 %", "55.0 %", "62.5 %", "12.5 %", "yes", "not below")
    assert_row(text, "modulation", "95.0 %", "20.0 %", "90.0 %", "20.0 %", "NO", "BELOW BASELINE")
    assert "instrument 36.0-64.0 % (48 test clips)" in text and "modulation 85.0-99.0 % (45 test clips)" in text
    assert "Wilson" in text
    assert "(1/2 right)" in text
    assert re.search(r"ok\s+one_0001\.wav\s+true one\s+predicted one\s+\(0\.91\)", text)
    assert re.search(r"--\s+two_0002\.wav\s+true two\s+predicted three\s+\(0\.40\)", text)
    assert "pre-training 5 min 00 s" in text
    assert "/out/pretrain/final" in text


def test_pretraining_line_lists_every_loss_term():
    terms = {name: 0.5 + index for index, name in enumerate(PRETRAINING_LOSS_TERMS[1:])}
    line = demo.pretraining_line({"step": 120, "loss": 1.25, **terms})
    expected = ", ".join(f"{name} {value:.3f}" for name, value in terms.items())
    assert line == f"Pre-training: 120 steps, final loss 1.250 ({expected})."
    assert demo.pretraining_line({}) == "Pre-training: no metrics were logged."


def test_write_report_json_round_trip(tmp_path):
    demo.write_report(make_report(tmp_path), tmp_path)
    payload = json.loads((tmp_path / "report.json").read_text())
    assert payload["scores"][0] == {
        "task": "instrument",
        "num_classes": 8,
        "linear_eval": 0.55,
        "finetune": 0.625,
        "baseline": 0.5,
        "baseline_ci95": [0.36, 0.64],
        "num_test_clips": 48,
        "chance": 0.125,
        "above_chance": True,
        "finetune_below_baseline": False,
    }
    assert payload["scores"][1]["above_chance"] is False
    assert payload["scores"][1]["finetune_below_baseline"] is True
    assert (tmp_path / "report.md").read_text().startswith("```\nAaSP demo report")


def test_collect_scores_reads_every_step_result():
    scores = demo.collect_scores(
        ["keyword", "modulation"],
        {"keyword": {"mean": 0.3}},
        {"keyword": {"mean": 0.4}},
        {"keyword": {"accuracy": 0.6, "ci95_low": 0.45, "ci95_high": 0.73, "num_test_clips": 50}},
    )
    assert scores[0] == TaskScores(
        "keyword", 10, linear_eval=0.3, finetune=0.4, baseline=0.6, baseline_ci95=(0.45, 0.73), num_test_clips=50
    )
    assert scores[0].finetune_below_baseline
    assert scores[1] == TaskScores("modulation", 5)
    text = format_report(DemoReport(1.0, None, None, {}, scores, [], {}))
    assert_row(text, "modulation", "n/a", "n/a", "n/a", "20.0 %", "NO", "n/a")


def test_main_reports_a_bad_config_and_exits_with_1(tmp_path, capsys):
    assert demo.main(["--config", str(tmp_path / "missing.yaml")]) == 1
    assert "aasp-demo failed: Demo config" in capsys.readouterr().err
