#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Self-supervised AaSP pre-training with Accelerate (docs/method.md, section 5 "Pre-training").

    accelerate launch examples/pretrain.py --config configs/aasp_tiny.yaml --output_dir outputs/aasp-tiny
    ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes 2 examples/pretrain.py --config ...
    accelerate launch --mixed_precision bf16 examples/pretrain.py --config configs/aasp_base.yaml ...  # one H100
    accelerate launch --config_file configs/accelerate/ddp.yaml --num_processes 8 examples/pretrain.py \
        --config configs/aasp_base_8gpu.yaml ...                         # the same recipe (in clips) on 8 GPUs
    ... --resume_from_checkpoint latest          # continue from the newest complete checkpoint

Options come from a YAML file (`--config`; its section headings only group the options) and command-line flags,
which win. The resolved options are written to <output_dir>/pretrain_config.yaml, next to <output_dir>/checkpoints/.
Metrics go to the Accelerate trackers and, one JSON object per line, to <output_dir>/metrics.jsonl. The encoder, the
feature extractor (with the corpus mean/std) and a model card are exported to <output_dir>/final. The steps live in
`transformers_aasp.training.pretraining`; see docs/pretraining.md.
"""

from transformers.utils import logging

from transformers_aasp.training.arguments import run_main
from transformers_aasp.training.checkpointing import CheckpointError
from transformers_aasp.training.pretraining import (
    LaunchError,
    Pretrainer,
    TrainingDiverged,
    parse_pretraining_options,
    push_to_hub,
)


logger = logging.get_logger("transformers_aasp.examples.pretrain")


def main(argv: list[str] | None = None) -> None:
    options = parse_pretraining_options(argv)
    pretrainer = Pretrainer.from_options(options)  # accelerator, logging, output folder, data, model, optimizer
    pretrainer.resume(options.checkpointing.resume_from_checkpoint)
    pretrainer.train()
    final = pretrainer.export()
    if options.hub.push_to_hub and final is not None:
        push_to_hub(options, final)
    pretrainer.end()


if __name__ == "__main__":
    run_main(main, LaunchError, TrainingDiverged, CheckpointError)
