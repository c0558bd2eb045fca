# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The corpora this repository builds on the user's machine, as a plug-in of `transformers_aasp`.

- `synthetic`: the embedded corpus of `make demo` (SoundFont renders, espeak-ng digits, modulated tones), its
  tasks `instrument`, `keyword`, `modulation` and its pre-training source `--dataset embedded`;
- `recordings`: real recordings from Debian packages, tasks `instrument_real` and `sample_family`, and an
  unlabelled pool folder (`recorded_pretraining_pool`).

Neither ships in the `transformers-aasp` wheel: they are test and evidence data, with their own dependencies
(pretty_midi, tinysoundfont, espeak-ng, Debian sound packages). `pip install -e corpora` (done by `make setup`)
registers them through the entry points `transformers_aasp.tasks` (`tasks`) and `transformers_aasp.sources`
(`sources`), so `--task keyword` and `--dataset embedded` work in every script of the repository.
"""

from functools import partial

from transformers_aasp.data.sources import CodeSource
from transformers_aasp.data.tasks import TaskSpec
from transformers_aasp.reporting.model_card import DataLicense, TrainingDataset

from .recordings import RECORDED_TASKS, load_recorded_task, recordings_name
from .synthetic import EMBEDDED_TASKS, corpus_name, load_embedded_task, load_pretraining_audio


EMBEDDED_CORPUS_LICENSE = DataLicense(
    "other",
    "the embedded corpus's sources: renders of the GPL-2.0 TimGM6mb SoundFont and espeak-ng (GPL-3.0) speech "
    "(see docs/corpus.md, 'Sources and licences')",
    None,
    None,
)
RECORDINGS_LICENSE = DataLicense(
    "other",
    "the real-audio corpus's sources: MuseScore General SoundFont renders (MIT, parts public domain or CC0) and "
    "Sonic Pi samples (per sample CC0, CC BY-SA 4.0, MIT or Zlib; see docs/corpus.md, 'Real recordings')",
    None,
    None,
)


def corpus_tasks(names, kind: str, loader, build_name, data_license: DataLicense, splits: str) -> list[TaskSpec]:
    """One `TaskSpec` per task name of a corpus built in code (4 s clips, the corpus's own splits)."""
    return [
        TaskSpec(
            name=name,
            display_name=f"{kind}: {name}",
            dataset_id=None,
            clip_seconds=4.0,
            loader=partial(loader, name),
            build_name=build_name,
            data_license=data_license,
            protocol_description=f"`{name}` of the {kind}, its {splits}",
        )
        for name in names
    ]


def tasks() -> list[TaskSpec]:
    """The downstream tasks of both corpora (entry point `transformers_aasp.tasks`)."""
    embedded = corpus_tasks(
        EMBEDDED_TASKS, "embedded corpus", load_embedded_task, corpus_name, EMBEDDED_CORPUS_LICENSE, "own splits"
    )
    recorded = corpus_tasks(
        RECORDED_TASKS,
        "real recordings",
        load_recorded_task,
        recordings_name,
        RECORDINGS_LICENSE,
        "source-disjoint splits",
    )
    return embedded + recorded


def embedded_card_dataset(seed: int = 0, clips_per_class: int | None = None) -> TrainingDataset:
    """How a model card cites a pre-training run on `--dataset embedded`."""
    name = "the transformers_aasp embedded corpus"
    return TrainingDataset(
        None, name=name, revision=corpus_name(seed, clips_per_class), license=EMBEDDED_CORPUS_LICENSE
    )


def sources() -> list[CodeSource]:
    """The pre-training sources built in code (entry point `transformers_aasp.sources`): `--dataset embedded`."""
    return [CodeSource("embedded", load=load_pretraining_audio, card_dataset=embedded_card_dataset)]
