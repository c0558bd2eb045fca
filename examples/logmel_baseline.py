#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The log-mel statistics baseline on a single-label task: what a learned encoder has to beat.

    python examples/logmel_baseline.py --task keyword [--corpus_clips_per_class N] [--feature_set full]
    python examples/logmel_baseline.py --task esc50 --feature_set stats --output_dir out/baseline

The task options are finetune.py's (`--config file.yaml` too). Features, classifier and interval are described
in `transformers_aasp.evaluation.baseline`; writes `<output_dir>/logmel_baseline_<task>.json`. Multi-label
tasks (AudioSet, metric mAP) are refused.
"""

from transformers.utils import logging

import transformers_aasp  # noqa: F401  (registers AaSP with the Auto classes)
from transformers_aasp.evaluation.baseline import (
    LogmelBaselineArguments,
    baseline_summary_line,
    evaluate_logmel_baseline,
    load_baseline_feature_extractor,
    refuse_multi_label,
    write_baseline_results,
)
from transformers_aasp.training.arguments import (
    TaskDataArguments,
    parse_arguments,
    run_main,
    setup_logging,
    task_from_arguments,
)


logger = logging.get_logger("transformers_aasp.examples.logmel_baseline")


def main(argv: list[str] | None = None) -> dict:
    """Runs the command line `argv` (default: sys.argv); returns the results written to the JSON file."""
    data_args, options = parse_arguments((TaskDataArguments, LogmelBaselineArguments), argv)
    setup_logging("info")
    refuse_multi_label(data_args.task, data_args.multi_label)

    task = task_from_arguments(data_args)
    results = evaluate_logmel_baseline(
        task,
        load_baseline_feature_extractor(options.feature_extractor_name_or_path),
        feature_set=options.feature_set,
        clip_seconds=data_args.clip_seconds,
        fold=data_args.fold,
        batch_size=options.batch_size,
        max_iter=options.max_iter,
        regularization=options.regularization,
        regularization_grid=options.regularization_grid,
        validation_fraction=data_args.train_val_split,
    )

    path = write_baseline_results(results, task, options, data_args.dataset_name)
    logger.info(f"{baseline_summary_line(results, task, options.feature_set)} -> {path}")
    return results


if __name__ == "__main__":
    run_main(main)
