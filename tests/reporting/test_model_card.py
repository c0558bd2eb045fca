# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Model cards and the downstream metrics they report."""

from pathlib import Path

import numpy as np
import pytest
import yaml
from huggingface_hub import ModelCard, metadata_load
from sklearn.metrics import accuracy_score, average_precision_score

from transformers_aasp.reporting.metrics import (
    accuracy,
    average_precision_per_class,
    mean_average_precision,
    score_logits,
    summarize_scores,
)
from transformers_aasp.reporting.model_card import (
    DATASET_LICENSES,
    REPO_ID_PLACEHOLDER,
    ReportedResult,
    TrainingDataset,
    finetuned_card,
    pretrained_card,
    weights_license,
)


def multi_label_problem(seed: int, num_clips: int = 40, num_classes: int = 7, quantize: bool = False):
    rng = np.random.default_rng(seed)
    targets = (rng.random((num_clips, num_classes)) < 0.3).astype(np.float32)
    targets[0] = 1  # every class has at least one positive
    scores = rng.standard_normal((num_clips, num_classes)) + 1.5 * targets
    return (np.round(scores) if quantize else scores), targets


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("quantize", [False, True])  # rounded scores create ties, which must be one step
def test_map_equals_scikit_learn_macro_average_precision(seed, quantize):
    scores, targets = multi_label_problem(seed, quantize=quantize)
    expected = average_precision_score(targets, scores, average="macro")
    # Same formula, float64 sums in a different order: agreement to 1e-12.
    assert mean_average_precision(scores, targets) == pytest.approx(expected, abs=1e-12)


def test_map_leaves_out_classes_without_positives():
    scores, targets = multi_label_problem(5)
    targets[:, 2] = 0
    per_class = average_precision_per_class(scores, targets)
    assert np.isnan(per_class[2]) and not np.isnan(np.delete(per_class, 2)).any()
    kept = [c for c in range(targets.shape[1]) if c != 2]
    expected = average_precision_score(targets[:, kept], scores[:, kept], average="macro")
    assert mean_average_precision(scores, targets) == pytest.approx(expected, abs=1e-12)


def test_map_rejects_bad_input():
    with pytest.raises(ValueError, match="must have the same shape"):
        mean_average_precision(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="multi-hot"):
        mean_average_precision(np.zeros((2, 2)), np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="no class has a positive"):
        mean_average_precision(np.zeros((2, 2)), np.zeros((2, 2)))


def test_accuracy_and_score_logits():
    references = np.array([0, 1, 2, 2, 1])
    logits = np.eye(3)[[0, 2, 2, 2, 0]]
    assert accuracy(logits.argmax(-1), references) == accuracy_score(references, logits.argmax(-1)) == 0.6
    assert score_logits(logits, references, multi_label=False) == {"accuracy": 0.6}
    with pytest.raises(ValueError, match="1-D and of equal length"):
        accuracy([0, 1], [0])


def test_summary_of_repeated_scores_has_a_student_t_interval():
    summary = summarize_scores([0.8, 0.9, 1.0])
    # mean 0.9, sample std 0.1, t(0.975, 2) = 4.302653 -> half-width 4.302653 * 0.1 / sqrt(3).
    assert summary["mean"] == pytest.approx(0.9) and summary["std"] == pytest.approx(0.1)
    assert summary["ci95"] == pytest.approx(4.302653 * 0.1 / np.sqrt(3), rel=1e-6)


def front_matter(card: ModelCard, tmp_path) -> dict:
    path = tmp_path / "README.md"
    card.save(path)
    text = path.read_text()
    assert text.startswith("---\n")
    parsed = yaml.safe_load(text.split("---\n")[1])
    assert parsed == metadata_load(path)
    return parsed


def test_pretrained_card_metadata_and_body(tmp_path):
    result = ReportedResult(
        "ashraq/esc50", "ESC-50", "accuracy", 0.8123, split="5-fold CV", protocol="linear evaluation", spread=0.0101
    )
    card = pretrained_card(
        model_name="aasp-tiny",
        pretraining_datasets=["agkphysics/AudioSet (unbalanced)", "the embedded corpus"],
        training_args={"learning_rate": 3e-4, "max_steps": 10},
        metrics={"loss": 0.42},
        results=[result],
        repo_id="org/aasp-tiny",
    )
    meta = front_matter(card, tmp_path)
    # no pipeline_tag: transformers' feature-extraction pipeline fails on audio (it loads a tokenizer)
    assert meta["library_name"] == "transformers" and "pipeline_tag" not in meta
    # Only the bare Hub id goes into the metadata; the description stays in the body.
    assert meta["datasets"] == ["agkphysics/AudioSet"]
    assert "[agkphysics/AudioSet (unbalanced)](https://huggingface.co/datasets/agkphysics/AudioSet)" in card.text
    assert "- the embedded corpus" in card.text
    [entry] = meta["model-index"]
    assert entry["name"] == "aasp-tiny"
    [metric] = entry["results"][0]["metrics"]
    assert metric == {"type": "accuracy", "value": 0.8123, "name": "Accuracy (linear evaluation)"}
    body = card.text
    assert 'AutoModel.from_pretrained("org/aasp-tiny")' in body and "trust_remote_code=True" in body
    assert "| ESC-50 | linear evaluation | Accuracy | 81.23 ± 1.01 |" in body
    assert "| learning_rate | 0.0003 |" in body and "| loss | 0.42 |" in body
    assert "arXiv:2512.03637" in body and "Yamamoto" in body
    # AudioSet's audio stays under its uploaders' terms and the corpus's license is not recorded: not Apache-2.0.
    assert (meta["license"], meta["license_name"]) == ("other", "training-data-terms")
    assert "the embedded corpus: license not recorded" in body


def test_pretrained_card_without_results_has_no_model_index(tmp_path):
    card = pretrained_card(model_name="m", pretraining_datasets=["x/y"], training_args={})
    assert "model-index" not in front_matter(card, tmp_path)
    assert "No downstream evaluation" in card.text
    with pytest.raises(ValueError, match="at least one dataset"):
        pretrained_card(model_name="m", pretraining_datasets=[], training_args={})


def finetuned(training_data: TrainingDataset, results: list, **extra) -> ModelCard:
    options = {
        "model_name": "aasp-as20k",
        "base_model": "org/aasp-base",
        "training_data": training_data,
        "label_names": ["Speech", "Music"],
        "multi_label": True,
        "results": results,
        "training_args": {"learning_rate": 1e-4},
        "protocol": "balanced_train / eval",
        "clip_seconds": 10.0,
        "repo_id": "org/aasp-as20k",
    }
    return finetuned_card(**{**options, **extra})


def test_finetuned_card_metadata(tmp_path):
    revision = "cb06767e072e3bd3e4145834cbcb0837b9e0065a"
    result = ReportedResult(
        "agkphysics/AudioSet", "AudioSet-20K", "mAP", 0.4191, dataset_config="balanced", dataset_revision=revision
    )
    data = TrainingDataset("agkphysics/AudioSet", name="AudioSet-20K", config="balanced", revision=revision)
    card = finetuned(data, [result])
    meta = front_matter(card, tmp_path)
    assert meta["pipeline_tag"] == "audio-classification" and meta["base_model"] == "org/aasp-base"
    assert meta["metrics"] == ["mean_average_precision"] and meta["datasets"] == ["agkphysics/AudioSet"]
    dataset = meta["model-index"][0]["results"][0]["dataset"]
    assert dataset == {
        "name": "AudioSet-20K",
        "type": "agkphysics/AudioSet",
        "config": "balanced",
        "split": "test",
        "revision": revision,
    }
    assert meta["model-index"][0]["results"][0]["metrics"][0]["value"] == 0.4191
    assert 'pipeline("audio-classification", model="org/aasp-as20k")' in card.text
    assert f"(config `balanced`), revision `{revision}`." in card.text


def test_finetuned_card_without_a_test_score_says_so(tmp_path):
    card = finetuned(TrainingDataset("ashraq/esc50", name="ESC-50"), [])
    meta = front_matter(card, tmp_path)
    assert "model-index" not in meta and "metrics" not in meta
    assert "The test split was not scored" in card.text


@pytest.mark.parametrize(
    "dataset_id, expected",
    [
        ("ashraq/esc50", ("other", "non-commercial-training-data", "https://creativecommons.org/licenses/by-nc/3.0/")),
        (
            "danavery/urbansound8K",
            ("other", "non-commercial-training-data", "https://creativecommons.org/licenses/by-nc/3.0/"),
        ),
        ("danjacobellis/speech_commands_v2", ("apache-2.0", None, None)),
        ("jg583/NSynth", ("apache-2.0", None, None)),
        ("AbstractTTS/CREMA-D", ("apache-2.0", None, None)),
        ("agkphysics/AudioSet", ("other", "training-data-terms", "https://creativecommons.org/licenses/by/4.0/")),
        ("someone/unknown-data", ("other", "training-data-terms", None)),
    ],
)
def test_the_weights_license_follows_the_training_data(dataset_id, expected, tmp_path):
    card = finetuned(TrainingDataset(dataset_id), [])
    meta = front_matter(card, tmp_path)
    assert (meta["license"], meta.get("license_name"), meta.get("license_link")) == expected
    if expected[0] == "other":
        assert "not covered by the Apache-2.0" in card.text or "does not extend to them" in card.text


def test_non_commercial_data_wins_over_permissive_data():
    license = weights_license([TrainingDataset("jg583/NSynth"), TrainingDataset("ashraq/esc50")])
    assert license.license == "other" and license.license_name == "non-commercial-training-data"
    assert "ashraq/esc50: [CC BY-NC 3.0](https://creativecommons.org/licenses/by-nc/3.0/)" in license.statement
    assert "non-commercial purposes only" in license.statement


def test_a_custom_datasets_declared_license_is_used():
    assert weights_license([TrainingDataset("/data/my_corpus", license="cc-by-4.0")]).license == "apache-2.0"
    assert weights_license([TrainingDataset("/data/my_corpus", license="cc-by-nc-4.0")]).license == "other"
    assert weights_license([TrainingDataset("/data/my_corpus", license="my-terms")]).license == "other"


def test_every_registered_hub_dataset_has_a_recorded_license():
    from transformers_aasp.data.tasks import registered_tasks

    hub_ids = {spec.dataset_id for spec in registered_tasks().values() if spec.dataset_id is not None}
    assert hub_ids <= set(DATASET_LICENSES)


def test_local_paths_and_descriptions_never_reach_the_datasets_metadata(tmp_path):
    local = tmp_path / "copy"
    local.mkdir()
    card = finetuned(TrainingDataset(str(local), name="my copy"), [])
    assert "datasets" not in front_matter(card, tmp_path)
    assert TrainingDataset.from_description("a local corpus (wavs)").hub_id is None
    assert TrainingDataset.from_description("agkphysics/AudioSet (full)").hub_id == "agkphysics/AudioSet"


def test_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="Unknown metric 'f1'"):
        ReportedResult("d", "d", "f1", 0.5)


def test_a_classifier_of_another_model_type_gets_no_aasp_card(tmp_path):
    card = finetuned(
        TrainingDataset("ashraq/esc50", name="ESC-50"),
        [],
        base_model="MIT/ast-finetuned-audioset-10-10-0.4593",
        model_type="audio-spectrogram-transformer",
    )
    meta = front_matter(card, tmp_path)
    assert meta["pipeline_tag"] == "audio-classification"
    assert meta["base_model"] == "MIT/ast-finetuned-audioset-10-10-0.4593"
    assert "aasp" not in meta["tags"] and "transformers_aasp" not in meta["tags"]
    assert "audio-spectrogram-transformer" in meta["tags"]
    for aasp_text in ("AaSP", "AaPE", "Yamamoto", "import transformers_aasp", "trust_remote_code", "bibtex"):
        assert aasp_text not in card.text
    assert 'pipeline("audio-classification", model="org/aasp-as20k")' in card.text


def test_without_a_repo_id_the_snippets_use_a_placeholder_that_says_so(tmp_path):
    data = TrainingDataset("ashraq/esc50", name="ESC-50")
    placeholder_note = f"`{REPO_ID_PLACEHOLDER}` is a placeholder"
    cards = {
        "finetuned": finetuned(data, [], model_name="my-run", repo_id=None),
        "pretrained": pretrained_card(model_name="my-run", pretraining_datasets=["x/y"], training_args={}),
    }
    for kind, card in cards.items():
        assert placeholder_note in card.text, kind
        assert f'"{REPO_ID_PLACEHOLDER}"' in card.text and '"my-run"' not in card.text, kind
    named = finetuned(data, [], repo_id="org/esc50-run")
    assert placeholder_note not in named.text and 'model="org/esc50-run"' in named.text


@pytest.mark.parametrize("clip_seconds, shown", [(1.5, "1.5"), (4.0, "4"), (10.0, "10")])
def test_the_card_states_the_training_clip_length(clip_seconds, shown):
    card = finetuned(TrainingDataset("ashraq/esc50", name="ESC-50"), [], clip_seconds=clip_seconds)
    assert f"trained on clips of at most {shown} s" in card.text
    assert "about" not in card.text


def pretraining_options(tmp_path, *flags):
    from transformers_aasp.training.pretraining import parse_pretraining_options

    data = tmp_path / "my_drum_hits"
    data.mkdir(exist_ok=True)
    tiny_yaml = str(Path(__file__).resolve().parents[2] / "configs" / "aasp_tiny.yaml")
    argv = ["--config", tiny_yaml, "--dataset", str(data), "--output_dir", str(tmp_path / "out")]
    return parse_pretraining_options([*argv, *flags])


def test_a_pre_training_card_is_named_after_the_users_data(tmp_path):
    from transformers_aasp.training.pretraining import model_card

    card = model_card(pretraining_options(tmp_path), {"loss": 0.5})
    assert card.text.splitlines().count("# aasp-tiny-my_drum_hits") == 1
    assert "aasp-tiny-embedded" not in card.text and "a local corpus (my_drum_hits)" in card.text
    named = model_card(pretraining_options(tmp_path, "--model_name", "drums-v1"), {"loss": 0.5})
    assert "# drums-v1" in named.text


def test_no_local_path_reaches_a_card(tmp_path):
    from transformers_aasp.training.pretraining import model_card

    pretrained = model_card(pretraining_options(tmp_path), {"loss": 0.5})
    local = tmp_path / "my_drum_hits"
    fine_tuned = finetuned(
        TrainingDataset(str(local)),
        [],
        base_model=str(tmp_path / "out" / "final"),
        training_args={"learning_rate": 1e-3, "cache_dir": str(tmp_path / "cache"), "files": [str(local)]},
        repo_id=None,
    )
    for card in (pretrained, fine_tuned):
        assert str(tmp_path) not in card.content
        assert "my_drum_hits" in card.content  # the data is still named
    assert "base_model" not in fine_tuned.data.to_dict()
