#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Prepare a pre-training corpus once: 16 kHz mono FLAC shards that training reads without resampling.

    python examples/prepare_pretraining_data.py --dataset agkphysics/AudioSet --output_dir shards/ --num_proc 16
    python examples/prepare_pretraining_data.py --dataset /data/my_audio_folder --output_dir shards/ --num_proc 8
    python examples/pretrain.py --dataset shards/ ...        # reads (or, with --streaming, streams) the shards

Re-running the same command resumes: finished shards are kept. Undecodable files are skipped and counted in
<output_dir>/prepare_summary.json. The steps live in `transformers_aasp.data.shards`; see docs/pretraining.md.
"""

import json

from transformers_aasp.data.shards import PrepareArguments, prepare_from_arguments
from transformers_aasp.training.arguments import parse_arguments, run_main, setup_logging
from transformers_aasp.training.locking import hold_output_dir


def main(argv: list[str] | None = None) -> dict:
    """Runs the command line `argv` (default: sys.argv); returns the summary written next to the shards."""
    (args,) = parse_arguments((PrepareArguments,), argv)
    setup_logging("info")
    hold_output_dir(args.output_dir)  # one preparation per folder; its workers die with it
    summary = prepare_from_arguments(args)
    print(json.dumps({key: summary[key] for key in ("num_clips", "num_skipped", "num_prepared_shards")}))
    return summary


if __name__ == "__main__":
    run_main(main)
