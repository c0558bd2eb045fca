#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Linear evaluation of a frozen audio encoder (the EVAR-style protocol used by the M2D / BYOL-A papers).

    python examples/linear_eval.py --model_name_or_path <ckpt> --task esc50 --output_dir out/le
    python examples/linear_eval.py --model_name_or_path MIT/ast-finetuned-audioset-10-10-0.4593 --task spcv2
    python examples/linear_eval.py --config le.yaml          # any option from a YAML file; flags override it

The task options are finetune.py's. The protocol (embedding, cache, probe, folds and seeds) lives in
`transformers_aasp.evaluation.linear_probe`; see docs/downstream.md.
"""

from transformers.utils import logging

import transformers_aasp  # noqa: F401  (registers AaSP with the Auto classes)
from transformers_aasp.evaluation.linear_probe import (
    LinearProbeArguments,
    embed_task,
    load_embedder,
    run_protocol,
    summary_line,
    write_results,
)
from transformers_aasp.training.arguments import (
    ModelArguments,
    TaskDataArguments,
    parse_arguments,
    run_main,
    setup_logging,
    task_from_arguments,
)


logger = logging.get_logger("transformers_aasp.examples.linear_eval")


def main(argv: list[str] | None = None) -> dict:
    """Runs the command line `argv` (default: sys.argv); returns the results written to the JSON file."""
    model_args, data_args, probe = parse_arguments((ModelArguments, TaskDataArguments, LinearProbeArguments), argv)
    setup_logging("info")

    task = task_from_arguments(data_args)
    embedder = load_embedder(model_args.model_name_or_path, model_args.trust_remote_code, probe)
    embeddings = embed_task(task, embedder, model_args.model_name_or_path, probe)
    results = run_protocol(task, embeddings, probe, data_args.fold, data_args.train_val_split)

    path = write_results(results, model_args.model_name_or_path, task, probe)
    logger.info(f"{summary_line(results, model_args.model_name_or_path, task)} -> {path}")
    return results


if __name__ == "__main__":
    run_main(main)
