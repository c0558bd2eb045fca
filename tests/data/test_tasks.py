# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The task registry, loading and protocols on tiny local copies of each Hub layout (see hub_layouts.py)."""

import hub_layouts
import numpy as np
import pytest
from datasets import ClassLabel, List

from aasp_corpora.recordings import RECORDED_TASKS
from aasp_corpora.synthetic import EMBEDDED_TASKS
from transformers_aasp.audio import decode_waveform, fit_clip
from transformers_aasp.data.loading import check_split_sizes, load_task, resolve_task
from transformers_aasp.data.protocols import class_balanced_weights, stratified_holdout
from transformers_aasp.data.sources import undecoded_audio
from transformers_aasp.data.tasks import (
    SPEECH_COMMANDS_V2_CORE_WORDS,
    SPEECH_COMMANDS_V2_LABEL_IDS,
    SPEECH_COMMANDS_V2_WORDS,
    TaskSpec,
    audioset_classes,
    custom_task,
    get_task,
    registered_tasks,
    speech_commands_id_order_check,
    task_names,
)
from transformers_aasp.reporting.metrics import metric_name


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    return {name: builder(root) for name, builder in hub_layouts.BUILDERS.items() if name != "as2m"} | {"root": root}


def test_registry_covers_every_benchmark_of_the_paper_and_the_embedded_tasks():
    paper = {"as20k", "as2m", "esc50", "us8k", "spcv2", "nsynth", "cremad"}
    assert paper | set(EMBEDDED_TASKS) | set(RECORDED_TASKS) == set(registered_tasks()) == set(task_names())
    assert metric_name(get_task("as20k").multi_label) == "mAP" and get_task("as2m").class_balanced_sampling
    assert metric_name(get_task("esc50").multi_label) == "accuracy"
    assert (get_task("esc50").num_folds, get_task("us8k").num_folds) == (5, 10)
    assert get_task("spcv2").num_classes == 35 and get_task("nsynth").num_classes == 11
    assert get_task("cremad").protocol == "speaker_split"


def test_unknown_task_names_the_known_ones():
    with pytest.raises(ValueError, match=r"Unknown task 'esc-50'.*esc50"):
        get_task("esc-50")


def test_esc50_int_targets_become_class_labels_named_by_category(hub):
    loaded = load_task("esc50", dataset_id=str(hub["esc50"]))
    assert loaded.label_names == list(hub_layouts.ESC50_CATEGORIES)
    assert isinstance(loaded.dataset["train"].features["label"], ClassLabel)
    assert loaded.dataset["train"].column_names == ["audio", "fold", "label"]
    assert loaded.dataset["train"].features["audio"].sampling_rate == 16000


def test_esc50_leave_one_fold_out_never_mixes_folds(hub):
    loaded = load_task("esc50", dataset_id=str(hub["esc50"]))
    for fold in loaded.spec.folds:
        splits = loaded.splits(fold, validation_fraction=0.1, seed=0)
        assert set(splits["test"]["fold"]) == {fold}
        assert fold not in set(splits["train"]["fold"]) | set(splits["validation"]["fold"])
        assert sum(s.num_rows for s in splits.values()) == loaded.dataset["train"].num_rows
    with pytest.raises(ValueError, match=r"fold must be one of \[1, 2, 3, 4, 5\], got 6"):
        loaded.splits(6)


def test_validation_holdout_is_deterministic_and_stratified():
    labels = [0] * 10 + [1] * 20 + [2]
    first, second = stratified_holdout(labels, 0.1, seed=3), stratified_holdout(labels, 0.1, seed=3)
    np.testing.assert_array_equal(first, second)
    held_labels = [labels[i] for i in first]
    # 10 % of each class with at least two clips (at least one), nothing from the singleton class.
    assert sorted(held_labels) == [0, 1, 1]


def test_us8k_keeps_predefined_folds_and_resamples_mixed_rates(hub):
    loaded = load_task("us8k", dataset_id=str(hub["us8k"]))
    assert loaded.spec.folds == list(range(1, 11))
    splits = loaded.splits(4, validation_fraction=0.0)
    assert set(splits["test"]["fold"]) == {4} and "validation" not in splits
    stereo_44k = loaded.dataset["train"].filter(lambda f: f == 3, input_columns="fold")[0]["audio"]
    waveform = decode_waveform(stereo_44k)
    # 0.5 s at any source rate -> 8000 samples at 16 kHz, mixed down to mono.
    assert waveform.shape == (8000,)


def test_spcv2_drops_silence_and_keeps_the_35_words(hub):
    loaded = load_task("spcv2", dataset_id=str(hub["spcv2"]), verify_split_sizes=False)
    assert loaded.class_names == list(SPEECH_COMMANDS_V2_WORDS)
    assert {split: ds.num_rows for split, ds in loaded.dataset.items()} == {"train": 35, "validation": 35, "test": 35}


def test_spcv2_refuses_the_12_class_test_archive(hub):
    folder = hub_layouts.build_speech_commands_12_class_test(hub["root"])
    with pytest.raises(ValueError, match=r"has no clip of 25 of the 35 classes.*12-class keyword-spotting"):
        load_task("spcv2", dataset_id=str(folder), verify_split_sizes=False)


def test_spcv2_checks_official_split_sizes():
    spec = get_task("spcv2")
    check_split_sizes(spec, {"train": 84843, "validation": 9981, "test": 11005})
    with pytest.raises(ValueError, match=r"'test' has 4890 rows, the official protocol has 11005.*12-class"):
        check_split_sizes(spec, {"train": 84843, "validation": 9981, "test": 4890})


def test_spcv2_size_check_is_on_by_default(hub):
    with pytest.raises(ValueError, match="split 'train' has 35 rows, the official protocol has 84843"):
        load_task("spcv2", dataset_id=str(hub["spcv2"]))


def test_nsynth_uses_instrument_family_and_official_splits(hub):
    loaded = load_task("nsynth", dataset_id=str(hub["nsynth"]))
    assert loaded.label_names == list(hub_layouts.NSYNTH_FAMILIES)
    splits = loaded.splits()
    assert {k: v.num_rows for k, v in splits.items()} == {"train": 6, "validation": 6, "test": 6}


def test_cremad_split_is_speaker_disjoint_deterministic_and_drops_unparsable_files(hub):
    loaded = load_task("cremad", dataset_id=str(hub["cremad"]))
    assert loaded.label_names == ["anger", "disgust", "fear", "happy", "neutral", "sad"]
    assert loaded.dataset["train"].num_rows == 60  # the 61st file name has no emotion code
    first, second = loaded.splits(), loaded.splits(seed=123)  # the split does not depend on the run seed
    speakers = {name: set(split["speaker"]) for name, split in first.items()}
    assert {name: len(s) for name, s in speakers.items()} == {"train": 7, "validation": 1, "test": 2}
    assert not (speakers["train"] & speakers["test"]) and not (speakers["train"] & speakers["validation"])
    assert speakers == {name: set(split["speaker"]) for name, split in second.items()}
    with pytest.raises(ValueError, match="has no folds"):
        loaded.splits(fold=1)


def test_audioset_classes_are_the_official_527_class_index_in_ontology_order():
    mids, names = audioset_classes()
    assert len(mids) == len(set(mids)) == len(names) == 527
    # Spot checks against class_labels_indices.csv: first, last, a quoted name with commas, and Music at 137.
    assert (mids[0], names[0]) == ("/m/09x0r", "Speech")
    assert (mids[1], names[1]) == ("/m/05zppz", "Male speech, man speaking")
    assert (mids[137], names[137]) == ("/m/04rlf", "Music")
    assert (mids[526], names[526]) == ("/m/07hvw1", "Field recording")


def test_audioset_mid_lists_become_multi_label_ids_of_the_official_index(hub):
    loaded = load_task("as20k", dataset_id=str(hub["as20k"]))
    feature = loaded.dataset["train"].features["label"]
    assert isinstance(feature, List) and isinstance(feature.feature, ClassLabel)
    mids, names = audioset_classes()
    assert loaded.class_names == list(mids) and loaded.label_names == list(names)
    # Whatever subset of classes a copy holds, Music is id 137 and Speech id 0 (checkpoints of any run agree).
    first = loaded.dataset["train"][0]["label"]  # clip 0: Speech + Music
    assert first == [0, 137]
    # Clip 1 also carried a MID outside the index: it is dropped from the list, the clip is kept.
    assert loaded.dataset["train"][1]["label"] == [137]
    assert loaded.dataset["train"].num_rows == 8 and loaded.dataset["test"].num_rows == 8
    assert loaded.revision is None and loaded.source == str(hub["as20k"])  # a local copy: no Hub commit


def test_as2m_uses_the_full_config_with_balanced_and_unbalanced_train(hub):
    loaded = load_task("as2m", dataset_id=str(hub["as20k"]))  # a local (prepared) copy is read normally
    assert not loaded.streaming and loaded.dataset["train"].num_rows == 16


def test_as2m_streams_the_train_and_test_splits(hub):
    loaded = load_task("as2m", dataset_id=str(hub["as20k"]), streaming=True)
    assert loaded.streaming and loaded.num_labels == 527
    splits = loaded.splits(validation_fraction=0.1)  # no hold-out can be drawn from a stream: train and test only
    assert set(splits) == {"train", "test"}
    labels = [row["label"] for row in splits["train"].select_columns(["label"])]
    assert len(labels) == 16 and labels[0] == [0, 137] and labels[1] == [137]
    assert splits["train"].features["audio"].sampling_rate == 16000
    with pytest.raises(ValueError, match="is streamed: it has no row indices"):
        loaded.split_indices()


def test_class_balanced_weights_favour_rare_labels():
    weights = class_balanced_weights([[0], [0], [0], [1], [0, 1]], num_labels=3)
    # label 0 occurs 4 times, label 1 twice: weights 1/4, 1/4, 1/4, 1/2, 1/4 + 1/2.
    np.testing.assert_allclose(weights, [0.25, 0.25, 0.25, 0.5, 0.75])


def test_custom_dataset_with_explicit_columns_and_fold_column(hub):
    spec = custom_task(str(hub["esc50"]), audio_column="audio", label_column="category", fold_column="fold")
    loaded = load_task(spec)
    assert loaded.spec.num_folds == 5 and loaded.label_names == sorted(hub_layouts.ESC50_CATEGORIES)
    assert loaded.folds == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    "new_folds", [{1: 2, 2: 5, 3: 9, 4: 2, 5: 5}, {1: "b", 2: "a", 3: "c", 4: "a", 5: "b"}], ids=["numbers", "strings"]
)
def test_custom_folds_are_the_fold_columns_distinct_values(hub, tmp_path, new_folds):
    from datasets import Value, load_dataset

    source = load_dataset(str(hub["esc50"]))
    fold_type = Value("string") if isinstance(new_folds[1], str) else Value("int64")
    relabelled = source.map(lambda fold: {"fold": new_folds[fold]}, input_columns="fold")
    relabelled = relabelled.cast_column("fold", fold_type)
    relabelled.save_to_disk(str(tmp_path / "copy"))
    loaded = load_task(custom_task(str(tmp_path / "copy"), label_column="category", fold_column="fold"))
    expected = sorted(set(new_folds.values()))
    assert loaded.folds == expected and loaded.spec.num_folds == 3
    for fold in expected:
        splits = loaded.splits(fold, validation_fraction=0.0)
        assert set(splits["test"]["fold"]) == {fold} and fold not in set(splits["train"]["fold"])
        assert splits["train"].num_rows + splits["test"].num_rows == source["train"].num_rows
    with pytest.raises(ValueError, match=r"fold must be one of .*, got 1"):
        loaded.splits(1)


def test_registered_folds_must_be_the_official_ones(hub, tmp_path):
    from datasets import load_dataset

    source = load_dataset(str(hub["esc50"]))
    source.filter(lambda fold: fold != 5, input_columns="fold").save_to_disk(str(tmp_path / "four_folds"))
    with pytest.raises(ValueError, match=r"expected folds \[1, 2, 3, 4, 5\] in column 'fold', found \[1, 2, 3, 4\]"):
        load_task("esc50", dataset_id=str(tmp_path / "four_folds"))


def test_missing_columns_are_named_with_the_available_ones(hub):
    spec = custom_task(str(hub["esc50"]), label_column="labels")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['labels'\].*Available columns: \['filename'"):
        load_task(spec)


def test_fit_clip_crops_long_clips_and_pads_only_to_one_analysis_window():
    waveform = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(fit_clip(waveform, 4, 2), [0, 1, 2, 3])
    np.testing.assert_array_equal(fit_clip(waveform, 20, 2), waveform)  # short clips stay short ...
    np.testing.assert_array_equal(fit_clip(waveform, 20, 12)[-3:], [9, 0, 0])  # ... down to the shortest allowed
    cropped = fit_clip(waveform, 4, 2, np.random.default_rng(0))
    assert cropped.shape == (4,) and np.all(np.diff(cropped) == 1)


def test_undecodable_clip_is_reported_as_none():
    assert decode_waveform(hub_layouts.CORRUPT_AUDIO) is None


def test_resolve_task_needs_a_task_or_a_dataset():
    with pytest.raises(ValueError, match="Pass --task <name> or --dataset_name <hub id or path>"):
        resolve_task()


def test_decode_waveform_reads_formats_libsndfile_lacks(tmp_path):
    """AAC in .m4a is not readable by soundfile; the torchcodec/FFmpeg fallback decodes it (and resamples)."""
    import subprocess

    import soundfile

    from transformers_aasp.audio import decode_waveform

    wav, m4a = tmp_path / "tone.wav", tmp_path / "tone.m4a"
    soundfile.write(wav, 0.3 * np.sin(np.linspace(0, 2 * np.pi * 440, 22050)).astype(np.float32), 22050)
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(wav), "-c:a", "aac", str(m4a)], check=True)
    with pytest.raises(soundfile.LibsndfileError):
        soundfile.read(m4a)
    waveform = decode_waveform({"bytes": m4a.read_bytes(), "path": None})
    assert waveform is not None and waveform.ndim == 1
    # 1 s at 22.05 kHz -> about 16000 samples at 16 kHz (AAC adds up to a frame of priming/padding)
    assert abs(waveform.size - 16000) < 1200
    assert decode_waveform({"bytes": b"not audio at all", "path": None}) is None


def test_split_names_given_to_resolve_task_apply_to_registered_tasks(hub):
    with pytest.raises(ValueError, match=r"split 'eval' not found; the data has \['train', 'test'\].*--test_split"):
        resolve_task("as20k", dataset_name=str(hub["as20k"]), test_split="eval")
    swapped = resolve_task("as20k", dataset_name=str(hub["as20k"]), train_split="test", test_split="train")
    assert (swapped.spec.train_split, swapped.spec.test_split) == ("test", "train")


def test_nsynth_repository_with_a_loading_script_is_read_with_the_parquet_builder(hub):
    from datasets import load_dataset

    with pytest.raises(RuntimeError, match="Dataset scripts are no longer supported"):
        load_dataset(str(hub["nsynth"]))  # what `load_dataset("jg583/NSynth")` does with datasets >= 4
    loaded = load_task("nsynth", dataset_id=str(hub["nsynth"]))
    assert {split: ds.num_rows for split, ds in loaded.dataset.items()} == {"train": 6, "validation": 6, "test": 6}


@pytest.mark.parametrize("label_type", ["int", "string"])
def test_spcv2_integer_ids_are_read_alphabetically_and_text_labels_by_name(hub, label_type):
    """The label type of danjacobellis/speech_commands_v2 could not be read: plain integer ids (taken in alphabetical
    word order, 0 = "backward") and the word as text give the same 35-word task as a ClassLabel copy, with the word of
    each clip's file name as its label."""
    folder = hub_layouts.build_speech_commands_v2(hub["root"], label_type=label_type)
    loaded = load_task("spcv2", dataset_id=str(folder), verify_split_sizes=False)
    assert loaded.class_names == list(SPEECH_COMMANDS_V2_WORDS)
    for split, dataset in loaded.dataset.items():
        files = [audio["path"] for audio in undecoded_audio(dataset)["audio"]]
        assert [loaded.class_names[i] for i in dataset["label"]] == [name.split("/")[0] for name in files], split
    train_rows = 3 * 20 + 15 if label_type == "int" else 35  # integer copies: core words thrice, as skewed as the data
    assert (loaded.dataset["train"].num_rows, loaded.dataset["test"].num_rows) == (train_rows, 35)


@pytest.mark.parametrize(
    "id_order",
    [SPEECH_COMMANDS_V2_LABEL_IDS, ("_background_noise_", *SPEECH_COMMANDS_V2_WORDS)],
    ids=["google_order", "shifted_by_one"],
)
def test_spcv2_refuses_integer_ids_in_another_order(hub, id_order):
    """Ids in `google/speech_commands`'s order, or alphabetical with `_background_noise_` first, would silently put
    the wrong word on most clips; the core-word frequency check refuses them."""
    folder = hub_layouts.build_speech_commands_v2(hub["root"], label_type="int", id_order=id_order)
    with pytest.raises(ValueError, match=r"plain integer ids.*core words average \d+ training clips against \d+"):
        load_task("spcv2", dataset_id=str(folder), verify_split_sizes=False)


def test_speech_commands_id_order_check_needs_the_core_words_about_twice_as_frequent():
    core = dict.fromkeys(SPEECH_COMMANDS_V2_CORE_WORDS, 3000)
    others = {word: 1500 for word in SPEECH_COMMANDS_V2_WORDS if word not in core}
    speech_commands_id_order_check(core | others)  # the release's skew (about 2:1)
    with pytest.raises(ValueError, match="core words average 1500 training clips against 3000"):
        speech_commands_id_order_check({word: 4500 - count for word, count in (core | others).items()})


class _RecordingLoader:
    """Stands in for `datasets.load_dataset` (no Hub here): records its arguments, returns a local copy's data."""

    def __init__(self, folder):
        self.folder, self.calls = folder, []

    def __call__(self, path, name=None, **kwargs):
        from datasets import load_dataset

        self.calls.append({"path": path, "name": name, **kwargs})
        if path == "parquet":
            local = {
                split: [str(self.folder / url.split("/", 5)[-1]) for url in urls]
                for split, urls in kwargs["data_files"].items()
            }
            return load_dataset("parquet", data_files=local)
        return load_dataset(str(self.folder), name, streaming=kwargs["streaming"])


@pytest.mark.parametrize("name", ["cremad", "esc50", "as20k"])
def test_hub_loads_pass_and_record_the_pinned_revision(hub, monkeypatch, name):
    from transformers_aasp.data import loading

    spec = get_task(name)
    assert spec.revision is not None and len(spec.revision) == 40
    fake = _RecordingLoader(hub[name])
    monkeypatch.setattr(loading, "load_dataset", fake)
    loaded = load_task(name)
    assert fake.calls == [
        {
            "path": spec.dataset_id,
            "name": spec.dataset_config,
            "revision": spec.revision,
            "cache_dir": None,
            "streaming": False,
        }
    ]
    assert (loaded.source, loaded.revision) == (spec.dataset_id, spec.revision)
    assert loaded.fingerprint() != load_task(name, revision="0" * 40).fingerprint()


def test_nsynth_hub_files_are_read_at_the_pinned_revision(hub, monkeypatch):
    from transformers_aasp.data import loading

    fake = _RecordingLoader(hub["nsynth"])
    monkeypatch.setattr(loading, "load_dataset", fake)
    loaded = load_task("nsynth")
    revision = get_task("nsynth").revision
    assert fake.calls[0]["data_files"]["train"] == [f"hf://datasets/jg583/NSynth@{revision}/data/train/*.parquet"]
    assert loaded.revision == revision and loaded.dataset["train"].num_rows == 6


def test_as2m_streams_from_the_hub_by_default(hub, monkeypatch):
    from transformers_aasp.data import loading

    fake = _RecordingLoader(hub["as20k"])
    monkeypatch.setattr(loading, "load_dataset", fake)
    loaded = load_task("as2m")  # 2.4 TB: never downloaded whole
    assert (fake.calls[0]["name"], fake.calls[0]["streaming"]) == ("full", True)
    assert loaded.streaming and loaded.revision == get_task("as2m").revision


def test_every_unpinned_hub_benchmark_is_named():
    """Revisions are pinned where a commit hash could be read; the one that could not is known and documented."""
    unpinned = [s.name for s in registered_tasks().values() if s.dataset_id is not None and s.revision is None]
    assert unpinned == ["spcv2"]


def test_code_built_tasks_name_the_build_their_loader_reads():
    """Results and embedding caches record this name as the task's revision: it must follow the loader's seed."""
    assert get_task("keyword").build_name(seed=7, clips_per_class=80) == "v2-7-c80"
    assert get_task("sample_family").build_name(seed=3) == "recordings-r1-3"
    assert all(spec.build_name is None for spec in registered_tasks().values() if spec.loader is None)


class _EntryPoint:
    """Stands in for an installed plug-in's entry point."""

    def __init__(self, value, specs):
        self.value, self._specs = value, specs

    def load(self):
        return lambda: self._specs


@pytest.fixture
def plugins(monkeypatch):
    """Replaces the installed plug-ins of the task registry with the list it yields."""
    installed = []
    monkeypatch.setattr("transformers_aasp.data.tasks.entry_points", lambda group: installed)
    registered_tasks.cache_clear()
    yield installed
    registered_tasks.cache_clear()


def test_without_the_corpora_plugin_a_corpus_task_is_refused_with_the_install_hint(plugins):
    with pytest.raises(ValueError, match=r"Unknown task 'keyword'.*pip install -e corpora"):
        get_task("keyword")
    assert "esc50" in task_names() and "keyword" not in task_names()


def test_a_plugin_adds_tasks_after_the_hub_tasks_and_may_not_reuse_a_name(plugins):
    plugins.append(_EntryPoint("mine:tasks", [TaskSpec(name="mine", display_name="Mine", dataset_id="/data/mine")]))
    assert task_names()[-1] == "mine" and get_task("mine").dataset_id == "/data/mine"
    registered_tasks.cache_clear()
    plugins.append(_EntryPoint("other:tasks", [TaskSpec(name="esc50", display_name="x", dataset_id="/data/x")]))
    with pytest.raises(ValueError, match="Task 'esc50' of plug-in 'other:tasks' is already registered"):
        registered_tasks()


class _BrokenEntryPoint:
    value = "gone:tasks"

    def load(self):
        raise ModuleNotFoundError("No module named 'gone'")


def test_a_plugin_that_cannot_be_imported_is_skipped_with_a_warning_naming_it(plugins, caplog):
    plugins.append(_BrokenEntryPoint())
    with caplog.at_level("WARNING", logger="transformers_aasp"):
        assert get_task("esc50").name == "esc50"
    assert "Skipping the transformers_aasp plug-in 'gone:tasks'" in caplog.text
