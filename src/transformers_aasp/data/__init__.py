# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Data: one module per concern.

Downstream tasks:

* `tasks`: the task registry (`TaskSpec`, `TASKS`, `get_task`, `task_names`, `custom_task`, the official AudioSet
  class index `audioset_classes`);
* `loading`: reading a task from the Hub or a local copy and casting it (`load_task`, `resolve_task`, `LoadedTask`,
  `check_split_sizes`);
* `protocols`: split protocols and training-time targets / sampling (`stratified_holdout`, `encode_targets`,
  `class_balanced_weights`);
* `corpus`: the embedded corpus and its tasks.

Pre-training:

* `sources`: detecting and opening a source of audio without decoding it (`load_audio_records`, `undecoded_audio`,
  `is_prepared_folder`);
* `shards`: writing a source once as 16 kHz mono FLAC shards (`prepare_pretraining_shards`);
* `pretraining`: random crops, features and the step-indexed data loader; `normalization`: feature statistics.
"""

from ..extras import require_extra


require_extra("train", "transformers_aasp.data")
