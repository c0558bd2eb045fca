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
    Step,
    StepContext,
    StepPrinter,
    TaskScores,
    find_source_checkout,
    format_duration,
    format_report,
    last_training_record,
    load_demo_config,
    pick_one_per_label,
    run_logged,
    run_steps,
    script_flags,
    threads_per_job,
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
    assert config.baseline["feature_sets"] == ["stats", "full"]  # the baseline, then the stronger one
    assert config.baseline_feature_sets == ["stats", "full"]
    assert "feature_set" not in (config.baseline["args"] or {})
    assert config.baseline_output_dir("stats") == config.output_dir / "logmel_baseline" / "stats"


def test_baseline_feature_sets_default_to_every_one_and_match_the_script():
    from transformers_aasp.evaluation.baseline import FEATURE_SETS

    assert demo.BASELINE_FEATURE_SETS == FEATURE_SETS
    assert tuple(demo.BASELINE_DESCRIPTIONS) == FEATURE_SETS  # every report column is explained
    config = DemoConfig(output_dir=Path("out"), source_dir=Path(), tasks=["keyword"])
    assert config.baseline_feature_sets == ["stats", "full"]
    config.baseline = {"feature_sets": ["full"]}
    assert config.baseline_feature_sets == ["full"]


def test_baseline_feature_sets_override(tmp_path):
    config = load_demo_config(DEMO_CONFIG, overrides=["baseline.feature_sets=[full]"])
    assert config.baseline_feature_sets == ["full"]


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
        ("tasks: [keyword]\njobs: 0\n", "jobs must be a positive integer \\(steps run at once\\), got 0"),
        ("tasks: [keyword]\njobs: two\n", "jobs must be a positive integer \\(steps run at once\\), got 'two'"),
        ("tasks: [keyword]\njobs: true\n", "jobs must be a positive integer \\(steps run at once\\), got True"),
        (
            "tasks: [keyword]\nbaseline: {feature_set: full}\n",
            r"unknown key\(s\) \['feature_set'\] in section 'baseline'; expected some of \['feature_sets', 'args'\]",
        ),
        ("- a list\n", "expected a mapping at the top level"),
    ],
)
def test_bad_configs_are_rejected_with_a_clear_message(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        load_demo_config(write_config(tmp_path, text))


@pytest.mark.parametrize(
    "baseline, message",
    [
        (
            "{feature_sets: [stats, mfcc]}",
            "unknown baseline.feature_sets ['mfcc']; expected some of ['stats', 'full'].",
        ),
        ("{feature_sets: []}", "baseline.feature_sets must be a non-empty list of ['stats', 'full'], got []."),
        ("{feature_sets: null}", "baseline.feature_sets must be a non-empty list of ['stats', 'full'], got None."),
        ("{feature_sets: stats}", "baseline.feature_sets must be a non-empty list of ['stats', 'full'], got 'stats'."),
        (
            "{feature_sets: [stats, full, stats]}",
            "baseline.feature_sets lists ['stats'] more than once; list each feature set once.",
        ),
        (
            "{args: {feature_set: stats}}",
            "baseline.args ['feature_set'] are set by the demo (output folder, task, feature set from "
            "baseline.feature_sets, and corpus.clips_per_class, so that the baseline is scored on the same clips); "
            "remove them.",
        ),
    ],
)
def test_bad_baseline_feature_sets_are_rejected_naming_the_file_and_value(tmp_path, baseline, message):
    path = write_config(tmp_path, f"tasks: [keyword]\nbaseline: {baseline}\n")
    with pytest.raises(ValueError) as error:
        load_demo_config(path)
    assert str(error.value) == f"{path}: {message}"


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


def script_step(tmp_path, name: str, code: str, category: str = "step") -> Step:
    """A step that runs `code` as a script, logged to <tmp_path>/logs/<name>.log; returns what it printed."""
    script = tmp_path / f"{name}.py"
    script.write_text(code)
    log = tmp_path / "logs" / f"{name}.log"

    def run(context: StepContext) -> str:
        context.run([sys.executable, str(script)], log)
        return log.read_text()

    return Step(category, f"step {name}", run)


THREADS_SCRIPT = "import os, time\ntime.sleep({sleep})\nprint('{name}', os.environ.get('OMP_NUM_THREADS'))\n"


def test_threads_per_job_shares_the_cores_out():
    assert threads_per_job(2, cpu_count=2) == 1
    assert threads_per_job(2, cpu_count=16) == 8
    assert threads_per_job(3, cpu_count=8) == 2
    assert threads_per_job(4, cpu_count=2) == 1  # more steps than cores: one thread each, never zero


def test_steps_run_at_once_return_results_in_step_order_with_their_share_of_threads(tmp_path, capsys):
    # the first step finishes last: results still come back in step order
    steps = [
        script_step(tmp_path, name, THREADS_SCRIPT.format(sleep=sleep, name=name), category)
        for name, sleep, category in (("a", 1.5, "fine-tuning"), ("b", 0, "linear eval"), ("c", 0, "linear eval"))
    ]
    timings = {}
    printer = StepPrinter(total=3)
    results = run_steps(steps, 2, {"PATH": "/usr/bin"}, printer, timings)
    threads = threads_per_job(2)
    assert results == [f"a {threads}\n", f"b {threads}\n", f"c {threads}\n"]
    assert list(timings) == ["fine-tuning", "linear eval"]  # in the order the steps were listed
    assert timings["fine-tuning"] >= 1.5
    out = capsys.readouterr().out
    assert "3 steps, 2 at a time with" in out
    assert "=== [1/3] step a " in out and "=== [3/3] step c " in out
    assert re.search(rf"done in \d s: step a \(log: {re.escape(str(tmp_path / 'logs' / 'a.log'))}\)", out)
    assert f"$ {sys.executable} {tmp_path / 'a.py'}\n" in out  # the command line, to re-run a step by hand
    assert "\na 1\n" not in out  # the output of steps that run at once is in their logs only


def test_one_job_runs_steps_in_order_with_every_thread_and_streams_their_output(tmp_path, capfd):
    steps = [script_step(tmp_path, name, THREADS_SCRIPT.format(sleep=0, name=name)) for name in ("a", "b")]
    results = run_steps(steps, 1, {"PATH": "/usr/bin"}, StepPrinter(total=2), {})
    assert results == ["a None\n", "b None\n"]  # OMP_NUM_THREADS left as it was (unset here)
    out = capfd.readouterr().out
    assert out.index("=== [1/2] step a") < out.index("a None") < out.index("=== [2/2] step b") < out.index("b None")


def test_a_failing_step_stops_the_steps_running_beside_it_and_is_the_error_raised(tmp_path):
    steps = [
        script_step(
            tmp_path, "slow", "import time\nprint('started', flush=True)\ntime.sleep(60)\nprint('finished')\n"
        ),
        script_step(tmp_path, "broken", "import sys, time\ntime.sleep(1)\nprint('bad input')\nsys.exit(2)\n"),
        script_step(tmp_path, "never", "print('ran')\n"),
    ]
    with pytest.raises(DemoError, match=r"(?s)`broken.py` exited with status 2; full log: .*broken.log.*bad input"):
        run_steps(steps, 2, {"PATH": "/usr/bin"}, StepPrinter(total=3, stream=io.StringIO()), {})
    assert "finished" not in (tmp_path / "logs" / "slow.log").read_text()  # stopped, not waited for
    assert not (tmp_path / "logs" / "never.log").exists()  # queued behind the failure: cancelled


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


# Writes the results JSON where logmel_baseline.py does, with its command line, a feature-set-dependent accuracy and
# the interval fields; every run appends its command line to <checkout>/baseline_calls.jsonl.
FAKE_BASELINE_SCRIPT = """
import json, sys
from pathlib import Path
args = sys.argv[1:]
output_dir = Path(args[args.index("--output_dir") + 1])
benchmark = args[args.index("--benchmark") + 1]
feature_set = args[args.index("--feature_set") + 1]
accuracy = {"stats": 0.5, "full": 0.75}[feature_set]
output_dir.mkdir(parents=True, exist_ok=True)
results = {"argv": args, "accuracy": accuracy, "ci95_low": accuracy - 0.1, "ci95_high": accuracy + 0.1,
           "num_test_clips": 40}
(output_dir / f"logmel_baseline_{benchmark}.json").write_text(json.dumps(results))
with open(Path(__file__).parents[1] / "baseline_calls.jsonl", "a") as calls:
    calls.write(json.dumps(args) + "\\n")
print(f"baseline {feature_set} on {benchmark}")
"""


def flag_value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


@pytest.mark.parametrize("feature_set, accuracy", [("stats", 0.5), ("full", 0.75)])
def test_baseline_step_runs_the_script_on_the_demo_corpus(tmp_path, feature_set, accuracy):
    fake_checkout(tmp_path, {"logmel_baseline.py": FAKE_BASELINE_SCRIPT})
    config = DemoConfig(
        output_dir=tmp_path / "out",
        source_dir=tmp_path,
        tasks=["keyword"],
        corpus={"clips_per_class": 6},
        baseline={"feature_sets": ["stats", "full"], "args": {"regularization": 0.5}},
        linear_eval={"args": {"num_seeds": 1}},
    )
    results = demo.logmel_baseline(config, "keyword", feature_set, StepContext({}, stream=io.StringIO()))
    argv = results["argv"]
    assert results["accuracy"] == accuracy  # read from <output_dir>/logmel_baseline/<feature set>/
    assert argv == [
        "--benchmark",
        "keyword",
        "--feature_set",
        feature_set,
        "--output_dir",
        str(tmp_path / "out" / "logmel_baseline" / feature_set),
        "--corpus_clips_per_class",
        "6",  # the clips every other step is scored on
        "--regularization",
        "0.5",  # baseline.args, after the demo's flags; no linear_eval.args (--num_seeds)
    ]
    log = tmp_path / "out" / "logs" / f"logmel_baseline_{feature_set}_keyword.log"
    assert log.read_text() == f"baseline {feature_set} on keyword\n"


@pytest.mark.parametrize("jobs", [1, 2])
def test_run_demo_runs_the_baseline_once_per_task_and_feature_set(tmp_path, monkeypatch, capsys, jobs):
    fake_checkout(tmp_path, {"logmel_baseline.py": FAKE_BASELINE_SCRIPT})
    config = DemoConfig(
        output_dir=tmp_path / "out",
        source_dir=tmp_path,
        tasks=["keyword", "modulation"],
        jobs=jobs,
        baseline={"feature_sets": ["stats", "full"]},
        figures={"enabled": False},
    )
    # every other step is stubbed: only the baseline runs (its fake script)
    monkeypatch.setattr(demo, "build_corpus", lambda config: tmp_path / "corpus")
    monkeypatch.setattr(demo, "pretrain", lambda config, context: {})
    monkeypatch.setattr(demo, "linear_eval", lambda config, task, context: {"mean": 0.4})
    monkeypatch.setattr(demo, "finetune", lambda config, task, context: {"mean": 0.6})
    monkeypatch.setattr(demo, "classify_held_out", lambda config: [])
    report = demo.run_demo(config)

    calls = [json.loads(line) for line in (tmp_path / "baseline_calls.jsonl").read_text().splitlines()]
    made = [
        tuple(flag_value(argv, flag) for flag in ("--benchmark", "--feature_set", "--output_dir")) for argv in calls
    ]
    expected = [
        (task, feature_set, str(tmp_path / "out" / "logmel_baseline" / feature_set))
        for task in ("keyword", "modulation")
        for feature_set in ("stats", "full")
    ]
    # one at a time: in config order; two at a time: the same runs, in whichever order they started
    assert (made if jobs == 1 else sorted(made)) == (expected if jobs == 1 else sorted(expected))
    assert sorted(path.name for path in (tmp_path / "out" / "logs").iterdir()) == [
        "logmel_baseline_full_keyword.log",
        "logmel_baseline_full_modulation.log",
        "logmel_baseline_stats_keyword.log",
        "logmel_baseline_stats_modulation.log",
    ]
    out = capsys.readouterr().out
    # corpus, 2 x 2 baselines, pre-training, 2 linear evals, 2 fine-tunes, pipeline, report
    assert "=== [2/12] Log-mel statistics baseline 'stats' on 'keyword' " in out
    assert "(examples/logmel_baseline.py --feature_set stats)" in out
    assert "=== [5/12] Log-mel statistics baseline 'full' on 'modulation' " in out
    assert "=== [12/12] Report " in out
    assert [(scores.task, scores.baselines, scores.num_test_clips) for scores in report.scores] == [
        ("keyword", {"stats": 0.5, "full": 0.75}, 40),
        ("modulation", {"stats": 0.5, "full": 0.75}, 40),
    ]
    assert report.scores[0].finetune_below_baseline == {"stats": False, "full": True}
    payload = json.loads((tmp_path / "out" / "report.json").read_text())
    assert payload["scores"][1]["baselines"] == {"stats": 0.5, "full": 0.75}
    assert payload["jobs"] == jobs


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
    with pytest.raises(DemoError) as error:
        demo.logmel_baseline(config, "keyword", "full", StepContext({}, stream=io.StringIO()))
    expected = tmp_path / "out" / "logmel_baseline" / "full" / "logmel_baseline_keyword.json"
    assert str(error.value) == f"logmel_baseline.py wrote no {expected}."


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


def test_finetune_below_baseline_per_feature_set():
    scores = TaskScores("keyword", 10, linear_eval=0.3, finetune=0.5, baselines={"stats": 0.5, "full": 0.6})
    assert scores.finetune_below_baseline == {"stats": False, "full": True}  # equal to a baseline is not below it
    assert scores.baselines_above_finetune == ["full"]
    assert demo.baseline_verdict(scores) == "not below stats; BELOW full"
    both = TaskScores("keyword", 10, finetune=0.4, baselines={"full": 0.6, "stats": 0.5})
    assert both.finetune_below_baseline == {"full": True, "stats": True}  # in the order the baselines were run
    assert demo.baseline_verdict(both) == "BELOW full; BELOW stats"
    assert TaskScores("keyword", 10, finetune=0.4).finetune_below_baseline == {}  # no baseline measured
    assert demo.baseline_verdict(TaskScores("keyword", 10, finetune=0.4)) == "n/a"
    no_finetune = TaskScores("keyword", 10, baselines={"stats": 0.5})
    assert no_finetune.finetune_below_baseline == {"stats": False}
    assert demo.baseline_verdict(no_finetune) == "n/a"


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
            TaskScores(
                "instrument",
                8,
                0.55,
                0.625,
                baselines={"stats": 0.5, "full": 0.7},
                baseline_ci95={"stats": (0.36, 0.64), "full": (0.56, 0.81)},
                num_test_clips=48,
            ),
            TaskScores(
                "modulation",
                5,
                0.2,
                0.9,
                baselines={"stats": 0.8, "full": 0.95},
                baseline_ci95={"stats": (0.67, 0.89), "full": (0.85, 0.99)},
                num_test_clips=45,
            ),
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
        "baseline stats",
        "baseline full",
        "linear eval",
        "fine-tune",
        "chance",
        "above chance",
        "fine-tune vs baselines",
    ]
    assert header.split() == " ".join(columns).split()  # these columns, in this order, and no other
    # task, baseline stats, baseline full, linear eval, fine-tune, chance, above chance, fine-tune vs baselines
    assert_row(
        text, "instrument", "50.0 %", "70.0 %", "55.0 %", "62.5 %", "12.5 %", "yes", "not below stats;", "BELOW full"
    )
    assert_row(
        text, "modulation", "80.0 %", "95.0 %", "20.0 %", "90.0 %", "20.0 %", "NO", "not below stats;", "BELOW full"
    )
    # the percentages sit under their column headers (right-aligned)
    row = table_row(text, "instrument")
    assert row.index("50.0 %") + len("50.0 %") == header.index("baseline stats") + len("baseline stats")
    assert row.index("70.0 %") + len("70.0 %") == header.index("baseline full") + len("baseline full")
    assert row.index("not below stats") == header.index("fine-tune vs baselines")
    lines = text.splitlines()
    legend = lines.index("Log-mel baselines (examples/logmel_baseline.py --feature_set):")
    assert lines[legend + 1 : legend + 3] == [
        "  stats: per mel bin mean and std over time, the baseline the learning-quality goal is stated against",
        "  full: stats + std of frame differences + modulation spectrum, a stronger hand-designed baseline",
    ]
    intervals = next(index for index, line in enumerate(lines) if "Wilson interval" in line)
    assert lines[intervals].startswith("Log-mel baselines, 95 % Wilson interval of their test accuracy")
    assert lines[intervals + 2 : intervals + 4] == [
        "  instrument: stats 36.0-64.0 %, full 56.0-81.0 % (48 test clips)",
        "  modulation: stats 67.0-89.0 %, full 85.0-99.0 % (45 test clips)",
    ]
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
        "finetune_single_view": None,
        "baselines": {"stats": 0.5, "full": 0.7},
        "baseline_ci95": {"stats": [0.36, 0.64], "full": [0.56, 0.81]},
        "num_test_clips": 48,
        "chance": 0.125,
        "above_chance": True,
        "finetune_below_baseline": {"stats": False, "full": True},
    }
    assert list(payload["scores"][0]["baselines"]) == ["stats", "full"]  # the order of baseline.feature_sets
    assert payload["scores"][1]["above_chance"] is False
    assert payload["scores"][1]["finetune_below_baseline"] == {"stats": False, "full": True}
    assert (tmp_path / "report.md").read_text().startswith("```\nAaSP demo report")


def test_collect_scores_reads_every_step_result():
    scores = demo.collect_scores(
        ["keyword", "modulation"],
        {"keyword": {"mean": 0.3}},
        {"keyword": {"mean": 0.4}},
        {
            "keyword": {
                "stats": {"accuracy": 0.35, "ci95_low": 0.23, "ci95_high": 0.48, "num_test_clips": 50},
                "full": {"accuracy": 0.6, "ci95_low": 0.45, "ci95_high": 0.73, "num_test_clips": 50},
            }
        },
    )
    assert scores[0] == TaskScores(
        "keyword",
        10,
        linear_eval=0.3,
        finetune=0.4,
        baselines={"stats": 0.35, "full": 0.6},
        baseline_ci95={"stats": (0.23, 0.48), "full": (0.45, 0.73)},
        num_test_clips=50,
    )
    assert scores[0].finetune_below_baseline == {"stats": False, "full": True}
    assert scores[1] == TaskScores("modulation", 5)
    text = format_report(DemoReport(1.0, None, None, {}, scores, [], {}))
    assert_row(
        text, "keyword", "35.0 %", "60.0 %", "30.0 %", "40.0 %", "10.0 %", "yes", "not below stats;", "BELOW full"
    )
    # a task without a baseline: n/a under both baseline columns, and no verdict
    assert_row(text, "modulation", "n/a", "n/a", "n/a", "n/a", "20.0 %", "NO", "n/a")
    assert "  keyword: stats 23.0-48.0 %, full 45.0-73.0 % (50 test clips)" in text.splitlines()
    assert not any(line.startswith("  modulation:") for line in text.splitlines())  # no interval to give


def test_report_gives_the_unshifted_view_of_fine_tunes_that_average_shifted_views():
    scores = demo.collect_scores(
        ["keyword", "modulation"],
        {},
        {"keyword": {"mean": 0.95, "single_view": {"mean": 0.9}}, "modulation": {"mean": 0.98}},
    )
    assert [s.finetune_single_view for s in scores] == [0.9, None]
    lines = format_report(DemoReport(1.0, None, None, {}, scores, [], {})).splitlines()
    assert_row("\n".join(lines), "keyword", "n/a", "95.0 %", "10.0 %", "yes", "n/a")
    note = lines.index(
        "The fine-tune column scores each model as pipeline('audio-classification') runs it: the mean logits of"
    )
    assert lines[note + 1 : note + 3] == [
        "time-shifted views (finetune.args.classifier_shift_views; docs/demo.md). On the unshifted view alone:",
        "  keyword 90.0 %.",
    ]
    plain = format_report(DemoReport(1.0, None, None, {}, [TaskScores("keyword", 10, 0.3, 0.4)], [], {}))
    assert "unshifted view" not in plain


def test_report_without_any_baseline_has_no_baseline_column():
    text = format_report(DemoReport(1.0, None, None, {}, [TaskScores("keyword", 10, 0.3, 0.4)], [], {}))
    header = next(line for line in text.splitlines() if "linear eval" in line)
    columns = ["task", "linear eval", "fine-tune", "chance", "above chance", "fine-tune vs baselines"]
    assert header.split() == " ".join(columns).split()
    assert_row(text, "keyword", "30.0 %", "40.0 %", "10.0 %", "yes", "n/a")
    assert "Wilson" not in text and "--feature_set" not in text


def test_below_baseline_summary_names_task_and_feature_set(tmp_path):
    scores = [
        *make_report(tmp_path).scores,  # instrument and modulation: below the full baseline only
        TaskScores("keyword", 10, 0.3, 0.4, baselines={"stats": 0.5, "full": 0.6}),
        TaskScores("modulation", 5, 0.3, 0.9, baselines={"stats": 0.5, "full": 0.6}),
    ]
    assert demo.below_baseline_summary(scores) == "instrument (full); modulation (full); keyword (stats, full)"
    assert demo.below_baseline_summary(scores[-1:]) == ""


def test_main_notes_a_fine_tune_below_a_baseline_by_task_and_feature_set(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo, "missing_demo_dependencies", lambda: [])
    monkeypatch.setattr(demo, "load_demo_config", lambda *args: None)
    monkeypatch.setattr(demo, "run_demo", lambda config: make_report(tmp_path))
    assert demo.main([]) == 0
    captured = capsys.readouterr()
    assert "not below stats; BELOW full" in captured.out
    assert captured.err.endswith(
        "\nNote: the fine-tune is below the log-mel baseline on instrument (full); modulation (full); "
        "see docs/demo.md.\n"
    )


def test_main_reports_a_bad_config_and_exits_with_1(tmp_path, capsys):
    assert demo.main(["--config", str(tmp_path / "missing.yaml")]) == 1
    assert "aasp-demo failed: Demo config" in capsys.readouterr().err
