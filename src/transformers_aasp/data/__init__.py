# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Data, one module per concern.

Downstream tasks: `tasks` (the registry), `loading` (reading and casting a task: `load_task`, `resolve_task`),
`protocols` (splits, targets, sampling weights). The corpora built locally (the demo's embedded corpus, real
recordings) are a plug-in in the repository's `corpora/` folder, registered through entry points.

Pre-training: `sources` (opening a source of audio undecoded: `load_audio_records`), `shards` (writing it once as
16 kHz mono FLAC shards), `pretraining` (random crops, features, the step-indexed loader), `normalization` (feature
statistics).
"""

from ..extras import require_extra


require_extra("train", "transformers_aasp.data")
