# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Tiny local copies of the Hub datasets the task registry loads.

Each builder writes a folder laid out like the Hub repository at the revision the registry pins (parquet files under
the same paths, the same columns in the same order with the same types, the same split structure, a README with
`configs:` where the repository has one, the loading script where it still holds one), so the loader takes the code
path it takes on the Hub. Where each schema was read is cited on each builder and in docs/tasks.md. Clips are
short synthetic tones whose pitch depends on the class, so a tiny model can learn something in a few steps.
"""

import hashlib
import io
from pathlib import Path

import numpy as np
import soundfile as sf
from datasets import Audio, ClassLabel, Dataset, Features, List, Value

from transformers_aasp.data.tasks import (
    SPEECH_COMMANDS_V2_CORE_WORDS,
    SPEECH_COMMANDS_V2_LABEL_IDS,
    SPEECH_COMMANDS_V2_WORDS,
)


ESC50_CATEGORIES = ("dog", "rain", "siren")
US8K_CLASSES = ("air_conditioner", "car_horn", "children_playing")
NSYNTH_FAMILIES = ("bass", "brass", "flute")
AUDIOSET_CLASSES = {"/m/09x0r": "Speech", "/m/04rlf": "Music", "/m/0jbk": "Animal", "/m/07yv9": "Vehicle"}
AUDIOSET_UNKNOWN_MID = "/m/0notaclass"  # a MID outside the 527-class index: dropped from the label lists
CREMAD_CODES = ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")


def tone(class_index: int, seconds: float, sampling_rate: int, seed: int, channels: int = 1) -> np.ndarray:
    """A class-dependent tone plus a little noise: (samples,) or (samples, channels) float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sampling_rate)) / sampling_rate
    wave = 0.3 * np.sin(2 * np.pi * 220.0 * (1 + class_index) * t) + 0.01 * rng.standard_normal(t.size)
    wave = wave.astype(np.float32)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


def encoded(wave: np.ndarray, sampling_rate: int, name: str, audio_format: str = "WAV") -> dict:
    buffer = io.BytesIO()
    sf.write(buffer, wave, sampling_rate, format=audio_format)
    return {"bytes": buffer.getvalue(), "path": name}


CORRUPT_AUDIO = {"bytes": b"RIFF\x00\x00not really a wav file", "path": "corrupt.wav"}


# The README `configs:` block `push_to_hub` writes for a single default config.
DEFAULT_CONFIG_README = """---
configs:
- config_name: default
  data_files:
{splits}---
"""


def write_parquet(rows: dict, features: Features, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Dataset.from_dict(rows, features=features).to_parquet(str(path))


def build_esc50(root: Path, clips_per_class_and_fold: int = 1, seconds: float = 0.5) -> Path:
    """`ashraq/esc50`: one `train` split in two parquet shards under data/, no `configs:`; int `target` named by
    `category`, `fold` 1-5, int `src_file`, 44.1 kHz audio (schema: the repository's dataset_infos.json, file layout:
    its data/ tree; see docs/tasks.md)."""
    rows = {k: [] for k in ("filename", "fold", "target", "category", "esc10", "src_file", "take", "audio")}
    for fold in range(1, 6):
        for target, category in enumerate(ESC50_CATEGORIES):
            for take in range(clips_per_class_and_fold):
                name = f"{fold}-{100 + target}-{'ABC'[take]}-{target}.wav"
                rows["filename"].append(name)
                rows["fold"].append(fold)
                rows["target"].append(target)
                rows["category"].append(category)
                rows["esc10"].append(target == 0)
                rows["src_file"].append(100 + target)
                rows["take"].append("ABC"[take])
                rows["audio"].append(encoded(tone(target, seconds, 44100, seed=fold * 10 + take), 44100, name))
    features = Features(
        {
            "filename": Value("string"),
            "fold": Value("int64"),
            "target": Value("int64"),
            "category": Value("string"),
            "esc10": Value("bool"),
            "src_file": Value("int64"),
            "take": Value("string"),
            "audio": Audio(),
        }
    )
    folder = root / "esc50"
    half = len(rows["filename"]) // 2
    for shard, (part, suffix) in enumerate(
        ((slice(0, half), "2f1ab7b824ec751f"), (slice(half, None), "27425e5c1846b494"))
    ):
        path = folder / "data" / f"train-{shard:05d}-of-00002-{suffix}.parquet"
        write_parquet({k: v[part] for k, v in rows.items()}, features, path)
    return folder


def build_us8k(root: Path, with_corrupt_clip: bool = True, seconds: float = 0.5) -> Path:
    """`danavery/urbansound8K`: one `train` split (README `configs:` -> data/train-*), columns in the README's order
    (audio first), int `classID` + str `class`, `fold` 1-10, mixed rates/channels, and the original metadata CSV at
    the repository root, which the loader must not mistake for data."""
    rows = {
        k: [] for k in ("audio", "slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class")
    }
    rates = (44100, 22050, 48000)
    for fold in range(1, 11):
        for class_id, name in enumerate(US8K_CLASSES):
            rate = rates[(fold + class_id) % 3]
            file_name = f"{1000 + fold}-{class_id}-0-0.wav"
            rows["slice_file_name"].append(file_name)
            rows["fsID"].append(1000 + fold)
            rows["start"].append(0.0)
            rows["end"].append(seconds)
            rows["salience"].append(1 + fold % 2)
            rows["fold"].append(fold)
            rows["classID"].append(class_id)
            rows["class"].append(name)
            channels = 2 if fold == 3 else 1
            rows["audio"].append(encoded(tone(class_id, seconds, rate, seed=fold, channels=channels), rate, file_name))
    if with_corrupt_clip:  # one unreadable clip in a training fold: jobs must skip and count it
        rows["audio"][1] = CORRUPT_AUDIO
    features = Features(
        {
            "audio": Audio(),
            "slice_file_name": Value("string"),
            "fsID": Value("int64"),
            "start": Value("float64"),
            "end": Value("float64"),
            "salience": Value("int64"),
            "fold": Value("int64"),
            "classID": Value("int64"),
            "class": Value("string"),
        }
    )
    folder = root / "us8k"
    write_parquet(rows, features, folder / "data" / "train-00000-of-00001-e478d7cccca6a095.parquet")
    (folder / "README.md").write_text(
        DEFAULT_CONFIG_README.format(splits="  - split: train\n    path: data/train-*\n")
    )
    csv_rows = [",".join(str(rows[k][i]) for k in list(rows)[1:]) for i in range(len(rows["fold"]))]
    (folder / "UrbanSound8K.csv").write_text("\n".join([",".join(list(rows)[1:]), *csv_rows]) + "\n")
    return folder


SPEECH_COMMANDS_LABEL_TYPES = ("class_label", "int", "string")


def _speech_commands_features(label_type: str = "class_label") -> Features:
    """`google/speech_commands` v0.02 columns; `label_type`: its ClassLabel (ids 0-35 in its order), plain int64 ids,
    or the word as text (the three forms a re-upload may take)."""
    label = {
        "class_label": ClassLabel(names=list(SPEECH_COMMANDS_V2_LABEL_IDS)),
        "int": Value("int64"),
        "string": Value("string"),
    }[label_type]
    return Features(
        {
            "file": Value("string"),
            "audio": Audio(sampling_rate=16000),
            "label": label,
            "is_unknown": Value("bool"),
            "speaker_id": Value("string"),
            "utterance_id": Value("int8"),
        }
    )


def _speech_commands_rows(words: list[str], split_seed: int, seconds: float, label_of=None) -> dict:
    """One clip per entry of `words` (`file` = "<word>/<id>_nohash_<k>.wav", as in the release); `label_of(word)` is
    the stored label (default: the `google/speech_commands` v0.02 ClassLabel id)."""
    label_of = label_of or SPEECH_COMMANDS_V2_LABEL_IDS.index
    rows = {k: [] for k in ("file", "audio", "label", "is_unknown", "speaker_id", "utterance_id")}
    for k, word in enumerate(words):
        index = SPEECH_COMMANDS_V2_LABEL_IDS.index(word)
        utterance = words[:k].count(word)
        name = f"{word}/{split_seed:04x}{index:04x}_nohash_{utterance}.wav"
        rows["file"].append(name)
        rows["audio"].append(
            encoded(tone(index % 12, seconds, 16000, seed=split_seed + index + 100 * utterance), 16000, name)
        )
        rows["label"].append(label_of(word))
        rows["is_unknown"].append(word not in ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"))
        rows["speaker_id"].append(f"{split_seed:04x}{index:04x}")
        rows["utterance_id"].append(utterance)
    return rows


def build_speech_commands_v2(
    root: Path, seconds: float = 0.25, label_type: str = "class_label", id_order: tuple[str, ...] | None = None
) -> Path:
    """`danjacobellis/speech_commands_v2`: splits train / validation / test (the viewer's 84.8k / 9.98k / 11k rows)
    as `push_to_hub` lays them out (README `configs:`, data/<split>-*.parquet). Its column types could not be read
    (docs/tasks.md), so the label takes each form a re-upload may use (`label_type`):

    * "class_label": `google/speech_commands` v0.02's ClassLabel; train also holds a `_silence_` clip.
    * "int": plain int64 ids, by default in alphabetical word order (the order a user of this copy reports);
      `id_order` writes them in another order (e.g. `SPEECH_COMMANDS_V2_LABEL_IDS`).
    * "string": the word itself.

    Every split holds every word once. With integer ids, train holds three clips of each of the 20 core words, as
    skewed as the release (core words said about five times per speaker, the others once), which the order check of
    integer ids relies on.
    """
    if label_type not in SPEECH_COMMANDS_LABEL_TYPES:
        raise ValueError(f"label_type must be one of {SPEECH_COMMANDS_LABEL_TYPES}, got {label_type!r}")
    if id_order is not None and label_type != "int":
        raise ValueError("id_order applies to plain integer labels (label_type='int') only.")
    order = id_order or SPEECH_COMMANDS_V2_WORDS
    # One folder name per content: `datasets` caches a local folder's data under its name, whatever the files hold.
    order_tag = (
        "alphabetical" if order == SPEECH_COMMANDS_V2_WORDS else hashlib.sha1(repr(order).encode()).hexdigest()[:8]
    )
    suffix = {"class_label": "", "int": f"_int_{order_tag}", "string": "_text"}
    folder = root / f"spcv2{suffix[label_type]}"
    label_of = {
        "class_label": SPEECH_COMMANDS_V2_LABEL_IDS.index,
        "int": order.index,
        "string": str,
    }[label_type]
    features = _speech_commands_features(label_type)
    words = list(SPEECH_COMMANDS_V2_WORDS)
    core_repeats = 3 if label_type == "int" else 1
    train = [w for word in words for w in [word] * (core_repeats if word in SPEECH_COMMANDS_V2_CORE_WORDS else 1)]
    silence = ["_silence_"] if label_type == "class_label" else []  # a class of google's ClassLabel only
    splits = {"train": train + silence, "validation": words, "test": words}
    for seed, (split, split_words) in enumerate(splits.items()):
        rows = _speech_commands_rows(split_words, seed * 1000, seconds, label_of)
        write_parquet(rows, features, folder / "data" / f"{split}-00000-of-00001.parquet")
    listing = "".join(f"  - split: {split}\n    path: data/{split}-*\n" for split in splits)
    (folder / "README.md").write_text(DEFAULT_CONFIG_README.format(splits=listing))
    return folder


def build_speech_commands_12_class_test(root: Path, seconds: float = 0.25) -> Path:
    """Like `google/speech_commands` v0.02: train/validation fine, but the test split is the 12-class archive
    (10 keywords + `_silence_`), which the SPCV2 task must refuse."""
    folder = root / "speech_commands_12"
    keywords = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "_silence_"]
    splits = {"train": list(SPEECH_COMMANDS_V2_WORDS), "validation": list(SPEECH_COMMANDS_V2_WORDS), "test": keywords}
    for seed, (split, words) in enumerate(splits.items()):
        rows = _speech_commands_rows(words, seed * 1000, seconds)
        write_parquet(rows, _speech_commands_features(), folder / "data" / f"{split}-00000-of-00001.parquet")
    return folder


def build_nsynth(root: Path, clips_per_family: int = 2, seconds: float = 0.5) -> Path:
    """`jg583/NSynth` at the pinned commit: the loading script NSynth.py at the root (so `load_dataset(folder)` is
    refused, as on the Hub), a README with `dataset_info` but no `configs:`, parquet as data/train/batch_<k>.parquet,
    data/validation/validation.parquet, data/test/test.parquet; columns of the README's `dataset_info` (int
    `instrument_family` named by `instrument_family_str`)."""
    folder = root / "NSynth"  # datasets looks for <folder name>.py, as it looks for NSynth.py in jg583/NSynth
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "NSynth.py").write_text("import datasets  # the repository's loading script (not run)\n")
    (folder / "README.md").write_text("---\nlicense: cc-by-4.0\npretty_name: NSynth\n---\n")
    file_names = {
        "train": ["batch_0.parquet", "batch_1.parquet"],
        "validation": ["validation.parquet"],
        "test": ["test.parquet"],
    }
    for split_index, split in enumerate(("train", "validation", "test")):
        rows = {
            k: []
            for k in (
                "id",
                "note",
                "note_str",
                "instrument",
                "instrument_str",
                "pitch",
                "velocity",
                "sample_rate",
                "qualities",
                "qualities_str",
                "instrument_family",
                "instrument_family_str",
                "instrument_source",
                "instrument_source_str",
                "audio",
            )
        }
        for family, family_name in enumerate(NSYNTH_FAMILIES):
            for k in range(clips_per_family):
                note_id = f"{family_name}_acoustic_{split_index:03d}-{60 + k:03d}-100"
                rows["id"].append(note_id)
                rows["note"].append(split_index * 100 + family * 10 + k)
                rows["note_str"].append(note_id)
                rows["instrument"].append(family)
                rows["instrument_str"].append(f"{family_name}_acoustic_{split_index:03d}")
                rows["pitch"].append(60 + k)
                rows["velocity"].append(100)
                rows["sample_rate"].append(16000)
                rows["qualities"].append([0] * 10)
                rows["qualities_str"].append([])
                rows["instrument_family"].append(family)
                rows["instrument_family_str"].append(family_name)
                rows["instrument_source"].append(0)
                rows["instrument_source_str"].append("acoustic")
                wave = tone(family, seconds, 16000, seed=split_index * 100 + k)
                rows["audio"].append(encoded(wave, 16000, note_id + ".wav"))
        features = Features(
            {
                "id": Value("string"),
                "note": Value("int64"),
                "note_str": Value("string"),
                "instrument": Value("int64"),
                "instrument_str": Value("string"),
                "pitch": Value("int64"),
                "velocity": Value("int64"),
                "sample_rate": Value("int64"),
                "qualities": List(Value("int64")),
                "qualities_str": List(Value("string")),
                "instrument_family": Value("int64"),
                "instrument_family_str": Value("string"),
                "instrument_source": Value("int64"),
                "instrument_source_str": Value("string"),
                "audio": Audio(),
            }
        )
        names = file_names[split]
        for shard, name in enumerate(names):
            part = {k: v[shard :: len(names)] for k, v in rows.items()}
            write_parquet(part, features, folder / "data" / split / name)
    return folder


def build_cremad(root: Path, num_speakers: int = 10, seconds: float = 0.4) -> Path:
    """`AbstractTTS/CREMA-D` at the pinned commit: one `train` split (README `configs:` -> data/train-*, two shards),
    the README's `dataset_info` columns; the acted emotion and the speaker live only in the `file` name, which follows
    the original release's `<actor>_<sentence>_<EMOTION>_<level>.wav` (e.g. 1001_DFA_ANG_XX.wav)."""
    perceptual = ("angry", "sad", "disgust", "fear", "neutral", "happy")
    acoustic = ("speaking_rate", "pitch_mean", "pitch_std", "rms", "relative_db")
    rows = {k: [] for k in ("file", "audio", *perceptual, "gender", "transcription", "major_emotion", *acoustic)}
    sentences, levels = ("DFA", "IEO", "TIE"), ("XX", "HI", "LO", "MD")
    for speaker in range(1001, 1001 + num_speakers):
        for code_index, code in enumerate(CREMAD_CODES):
            name = f"{speaker}_{sentences[code_index % 3]}_{code}_{levels[speaker % 4]}.wav"
            rows["file"].append(name)
            rows["audio"].append(encoded(tone(code_index, seconds, 16000, seed=speaker), 16000, name))
            for column in perceptual:
                rows[column].append(1.0 / 6)
            for column in acoustic:
                rows[column].append(1.0)
            rows["gender"].append("female" if speaker % 2 else "male")
            rows["transcription"].append("it is eleven o'clock")
            rows["major_emotion"].append("neutral")  # perceived emotion; the task uses the acted one
    # A file whose name does not follow the CREMA-D pattern: dropped, not guessed.
    rows_extra = {k: v[-1] for k, v in rows.items()} | {"file": "README_extra.wav"}
    for key, value in rows_extra.items():
        rows[key].append(value)
    features = Features(
        {
            "file": Value("string"),
            "audio": Audio(),
            **{c: Value("float32") for c in perceptual},
            "gender": Value("string"),
            "transcription": Value("string"),
            "major_emotion": Value("string"),
            **{c: Value("float32") for c in acoustic},
        }
    )
    folder = root / "cremad"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text(
        DEFAULT_CONFIG_README.format(splits="  - split: train\n    path: data/train-*\n")
    )
    half = len(rows["file"]) // 2
    write_parquet({k: v[:half] for k, v in rows.items()}, features, folder / "data" / "train-00000-of-00002.parquet")
    write_parquet({k: v[half:] for k, v in rows.items()}, features, folder / "data" / "train-00001-of-00002.parquet")
    return folder


AUDIOSET_README = """---
configs:
- config_name: balanced
  data_files:
  - split: train
    path: data/bal_train/*.parquet
  - split: test
    path: data/eval/*.parquet
- config_name: unbalanced
  data_files:
  - split: train
    path: data/unbal_train/*.parquet
  - split: test
    path: data/eval/*.parquet
- config_name: full
  data_files:
  - split: train
    path:
    - data/bal_train/*.parquet
    - data/unbal_train/*.parquet
  - split: test
    path: data/eval/*.parquet
---
"""


def build_audioset(root: Path, clips_per_part: int = 8, seconds: float = 0.5) -> Path:
    """`agkphysics/AudioSet` at the pinned commit: README `configs:` balanced (train = data/bal_train, test =
    data/eval), unbalanced (data/unbal_train, data/eval) and full (both train folders, data/eval); columns `video_id`,
    `audio` (FLAC), `labels` (MIDs), `human_labels`. One clip also carries a MID outside the 527-class index."""
    folder = root / "audioset"
    mids = list(AUDIOSET_CLASSES)
    features = Features(
        {
            "video_id": Value("string"),
            "audio": Audio(),
            "labels": List(Value("string")),
            "human_labels": List(Value("string")),
        }
    )
    for part_index, part in enumerate(("bal_train", "unbal_train", "eval")):
        rows = {k: [] for k in ("video_id", "audio", "labels", "human_labels")}
        for clip in range(clips_per_part):
            labels = [mids[clip % len(mids)]] + ([mids[(clip + 1) % len(mids)]] if clip % 3 == 0 else [])
            labels += [AUDIOSET_UNKNOWN_MID] if clip == 1 else []
            video_id = f"{part[:3]}{clip:08d}"
            rows["video_id"].append(video_id)
            wave = tone(clip % len(mids), seconds, 48000, seed=part_index * 100 + clip)
            rows["audio"].append(encoded(wave, 48000, video_id + ".flac", audio_format="FLAC"))
            rows["labels"].append(labels)
            rows["human_labels"].append([AUDIOSET_CLASSES.get(m, "Unknown") for m in labels])
        write_parquet(rows, features, folder / "data" / part / "00.parquet")
    (folder / "README.md").write_text(AUDIOSET_README)
    return folder


BUILDERS = {
    "esc50": build_esc50,
    "us8k": build_us8k,
    "spcv2": build_speech_commands_v2,
    "nsynth": build_nsynth,
    "cremad": build_cremad,
    "as20k": build_audioset,
    "as2m": build_audioset,
}


def build_all(root: Path) -> dict[str, Path]:
    """Every layout under `root`: `{task name: folder}` (AS-20K and AS-2M share the AudioSet folder)."""
    folders = {}
    for name, builder in BUILDERS.items():
        folders[name] = folders["as20k"] if name == "as2m" else builder(root)
    return folders


def save_tiny_aasp_checkpoint(folder: Path) -> Path:
    """A randomly initialised 2-layer AaSP encoder + feature extractor, saved like a pre-trained checkpoint."""
    from transformers_aasp import AaSPConfig, AaSPFeatureExtractor, AaSPModel

    AaSPModel(AaSPConfig.tiny(num_hidden_layers=2)).save_pretrained(folder)
    AaSPFeatureExtractor().save_pretrained(folder)
    return folder


def save_tiny_aasp_classifier(folder: Path, labels: dict[int, str]) -> str:
    """A seeded, randomly initialised tiny AaSP classifier of `labels` with a normalising feature extractor."""
    import torch

    from transformers_aasp import AaSPConfig, AaSPFeatureExtractor, AaSPForAudioClassification

    torch.manual_seed(0)
    config = AaSPConfig.tiny(num_labels=len(labels), id2label=labels, label2id={v: k for k, v in labels.items()})
    AaSPForAudioClassification(config).eval().save_pretrained(folder)
    AaSPFeatureExtractor(mean=-6.0, std=4.0).save_pretrained(folder)
    return str(folder)


def save_tiny_ast_checkpoint(folder: Path) -> Path:
    """A randomly initialised tiny transformers AST encoder + its feature extractor (16 mel bins, 48 frames)."""
    from transformers import ASTConfig, ASTFeatureExtractor, ASTModel

    config = ASTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        num_mel_bins=16,
        max_length=48,
        patch_size=16,
        frequency_stride=16,
        time_stride=16,
    )
    ASTModel(config).save_pretrained(folder)
    ASTFeatureExtractor(num_mel_bins=16, max_length=48).save_pretrained(folder)
    return folder
