# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Tiny local copies of the Hub datasets the benchmark registry loads.

Each builder writes a folder laid out like the Hub repo (parquet files under the same paths, the same columns and
label types, the same fold / split structure, a README with `configs:` where the Hub repo has one), so
`datasets.load_dataset(folder, config)` takes the code path that `load_dataset("<hub id>", config)` takes. Clips are
short synthetic tones whose pitch depends on the class, so a tiny model can learn something in a few steps.
"""

import io
from pathlib import Path

import numpy as np
import soundfile as sf
from datasets import Audio, ClassLabel, Dataset, Features, List, Value

from transformers_aasp.data.benchmarks import SPEECH_COMMANDS_V2_WORDS


ESC50_CATEGORIES = ("dog", "rain", "siren")
US8K_CLASSES = ("air_conditioner", "car_horn", "children_playing")
NSYNTH_FAMILIES = ("bass", "brass", "flute")
AUDIOSET_CLASSES = {"/m/09x0r": "Speech", "/m/04rlf": "Music", "/m/0jbk": "Animal", "/m/07yv9": "Vehicle"}
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


def write_parquet(rows: dict, features: Features, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Dataset.from_dict(rows, features=features).to_parquet(str(path))


def build_esc50(root: Path, clips_per_class_and_fold: int = 1, seconds: float = 0.5) -> Path:
    """`ashraq/esc50`: one `train` split, int `target` with names in `category`, `fold` 1-5, 44.1 kHz audio."""
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
                rows["src_file"].append(str(100 + target))
                rows["take"].append("ABC"[take])
                rows["audio"].append(encoded(tone(target, seconds, 44100, seed=fold * 10 + take), 44100, name))
    features = Features(
        {
            "filename": Value("string"),
            "fold": Value("int64"),
            "target": Value("int64"),
            "category": Value("string"),
            "esc10": Value("bool"),
            "src_file": Value("string"),
            "take": Value("string"),
            "audio": Audio(),
        }
    )
    folder = root / "esc50"
    write_parquet(rows, features, folder / "data" / "train-00000-of-00001.parquet")
    return folder


def build_us8k(root: Path, with_corrupt_clip: bool = True, seconds: float = 0.5) -> Path:
    """`danavery/urbansound8K`: one `train` split, int `classID` + str `class`, `fold` 1-10, mixed rates/channels."""
    rows = {
        k: [] for k in ("slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class", "audio")
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
            "slice_file_name": Value("string"),
            "fsID": Value("int64"),
            "start": Value("float64"),
            "end": Value("float64"),
            "salience": Value("int64"),
            "fold": Value("int64"),
            "classID": Value("int64"),
            "class": Value("string"),
            "audio": Audio(),
        }
    )
    folder = root / "us8k"
    write_parquet(rows, features, folder / "data" / "train-00000-of-00001.parquet")
    return folder


def _speech_commands_features() -> Features:
    return Features(
        {
            "file": Value("string"),
            "audio": Audio(sampling_rate=16000),
            "label": ClassLabel(names=[*SPEECH_COMMANDS_V2_WORDS, "_silence_"]),
            "is_unknown": Value("bool"),
            "speaker_id": Value("string"),
            "utterance_id": Value("int8"),
        }
    )


def _speech_commands_rows(words: list[str], split_seed: int, seconds: float) -> dict:
    rows = {k: [] for k in ("file", "audio", "label", "is_unknown", "speaker_id", "utterance_id")}
    names = [*SPEECH_COMMANDS_V2_WORDS, "_silence_"]
    for word in words:
        index = names.index(word)
        name = f"{word}/{split_seed:04x}{index:04x}_nohash_0.wav"
        rows["file"].append(name)
        rows["audio"].append(encoded(tone(index % 12, seconds, 16000, seed=split_seed + index), 16000, name))
        rows["label"].append(index)
        rows["is_unknown"].append(word not in ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"))
        rows["speaker_id"].append(f"{split_seed:04x}{index:04x}")
        rows["utterance_id"].append(0)
    return rows


def build_speech_commands_v2(root: Path, seconds: float = 0.25) -> Path:
    """A parquet SPCV2 copy with the official 35-class test list: every split holds every word (+ `_silence_` rows)."""
    folder = root / "spcv2"
    words = list(SPEECH_COMMANDS_V2_WORDS)
    for seed, (split, extra) in enumerate({"train": ["_silence_"], "validation": [], "test": []}.items()):
        rows = _speech_commands_rows(words + extra, seed * 1000, seconds)
        write_parquet(rows, _speech_commands_features(), folder / "data" / f"{split}-00000-of-00001.parquet")
    return folder


def build_speech_commands_12_class_test(root: Path, seconds: float = 0.25) -> Path:
    """Like `google/speech_commands` v0.02: train/validation fine, but the test split is the 12-class archive
    (10 keywords + `_silence_`), which the SPCV2 benchmark must refuse."""
    folder = root / "speech_commands_12"
    keywords = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "_silence_"]
    splits = {"train": list(SPEECH_COMMANDS_V2_WORDS), "validation": list(SPEECH_COMMANDS_V2_WORDS), "test": keywords}
    for seed, (split, words) in enumerate(splits.items()):
        rows = _speech_commands_rows(words, seed * 1000, seconds)
        write_parquet(rows, _speech_commands_features(), folder / "data" / f"{split}-00000-of-00001.parquet")
    return folder


def build_nsynth(root: Path, clips_per_family: int = 2, seconds: float = 0.5) -> Path:
    """`jg583/NSynth`: parquet under data/{train,validation,test}/, int `instrument_family` + `instrument_family_str`."""
    folder = root / "nsynth"
    for split_index, split in enumerate(("train", "validation", "test")):
        rows = {
            k: []
            for k in (
                "id", "note", "instrument", "instrument_str", "pitch", "velocity", "sample_rate", "qualities",
                "qualities_str", "instrument_family", "instrument_family_str", "instrument_source",
                "instrument_source_str", "audio",
            )
        }  # fmt: skip
        for family, family_name in enumerate(NSYNTH_FAMILIES):
            for k in range(clips_per_family):
                note_id = f"{family_name}_acoustic_{split_index:03d}-{60 + k:03d}-100"
                rows["id"].append(note_id)
                rows["note"].append(split_index * 100 + family * 10 + k)
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
        write_parquet(rows, features, folder / "data" / split / "0000.parquet")
    return folder


def build_cremad(root: Path, num_speakers: int = 10, seconds: float = 0.4) -> Path:
    """`AbstractTTS/CREMA-D`: one `train` split; emotion and speaker live only in the `file` name."""
    rows = {k: [] for k in ("file", "audio", "angry", "sad", "disgust", "fear", "neutral", "happy", "gender",
                            "transcription", "major_emotion")}  # fmt: skip
    for speaker in range(1001, 1001 + num_speakers):
        for code_index, code in enumerate(CREMAD_CODES):
            name = f"{speaker}_IEO_{code}_HI.wav"
            rows["file"].append(name)
            rows["audio"].append(encoded(tone(code_index, seconds, 16000, seed=speaker), 16000, name))
            for column in ("angry", "sad", "disgust", "fear", "neutral", "happy"):
                rows[column].append(1.0 / 6)
            rows["gender"].append("female" if speaker % 2 else "male")
            rows["transcription"].append("it is eleven o'clock")
            rows["major_emotion"].append("neutral")  # perceived emotion; the benchmark uses the acted one
    # A file whose name does not follow the CREMA-D pattern: dropped, not guessed.
    rows_extra = {k: v[-1] for k, v in rows.items()} | {"file": "README_extra.wav"}
    for key, value in rows_extra.items():
        rows[key].append(value)
    features = Features(
        {
            "file": Value("string"),
            "audio": Audio(),
            **{c: Value("float32") for c in ("angry", "sad", "disgust", "fear", "neutral", "happy")},
            "gender": Value("string"),
            "transcription": Value("string"),
            "major_emotion": Value("string"),
        }
    )
    folder = root / "cremad"
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
    """`agkphysics/AudioSet`: configs balanced / unbalanced / full; `labels` = list of MIDs, `human_labels` names."""
    folder = root / "audioset"
    mids = list(AUDIOSET_CLASSES)
    features = Features(
        {"video_id": Value("string"), "audio": Audio(), "labels": List(Value("string")),
         "human_labels": List(Value("string"))}
    )  # fmt: skip
    for part_index, part in enumerate(("bal_train", "unbal_train", "eval")):
        rows = {k: [] for k in ("video_id", "audio", "labels", "human_labels")}
        for clip in range(clips_per_part):
            labels = [mids[clip % len(mids)]] + ([mids[(clip + 1) % len(mids)]] if clip % 3 == 0 else [])
            video_id = f"{part[:3]}{clip:08d}"
            rows["video_id"].append(video_id)
            wave = tone(clip % len(mids), seconds, 48000, seed=part_index * 100 + clip)
            rows["audio"].append(encoded(wave, 48000, video_id + ".flac", audio_format="FLAC"))
            rows["labels"].append(labels)
            rows["human_labels"].append([AUDIOSET_CLASSES[m] for m in labels])
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
    """Every layout under `root`: `{benchmark name: folder}` (AS-20K and AS-2M share the AudioSet folder)."""
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


def save_tiny_ast_checkpoint(folder: Path) -> Path:
    """A randomly initialised tiny transformers AST encoder + its feature extractor (16 mel bins, 48 frames)."""
    from transformers import ASTConfig, ASTFeatureExtractor, ASTModel

    config = ASTConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, num_mel_bins=16,
        max_length=48, patch_size=16, frequency_stride=16, time_stride=16,
    )  # fmt: skip
    ASTModel(config).save_pretrained(folder)
    ASTFeatureExtractor(num_mel_bins=16, max_length=48).save_pretrained(folder)
    return folder
