#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The log-mel statistics baseline on a single-label benchmark: what a learned encoder has to beat.

    python examples/logmel_baseline.py --benchmark keyword [--corpus_clips_per_class N] [--feature_set full]
    python examples/logmel_baseline.py --benchmark esc50 --feature_set stats --output_dir out/baseline

The benchmark options are finetune.py's (`--config file.yaml` too). Features, classifier and interval are described
in `transformers_aasp.evaluation.baseline`; writes `<output_dir>/logmel_baseline_<benchmark>.json`. Multi-label
benchmarks (AudioSet, metric mAP) are refused.
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
    BenchmarkDataArguments,
    benchmark_from_arguments,
    parse_arguments,
    run_main,
    setup_logging,
)


logger = logging.get_logger("transformers_aasp.examples.logmel_baseline")


def main(argv: list[str] | None = None) -> dict:
    """Runs the command line `argv` (default: sys.argv); returns the results written to the JSON file."""
    data_args, options = parse_arguments((BenchmarkDataArguments, LogmelBaselineArguments), argv)
    setup_logging("info")
    refuse_multi_label(data_args.benchmark, data_args.multi_label)

    benchmark = benchmark_from_arguments(data_args)
    results = evaluate_logmel_baseline(
        benchmark,
        load_baseline_feature_extractor(options.feature_extractor_name_or_path),
        feature_set=options.feature_set,
        clip_seconds=data_args.clip_seconds,
        fold=data_args.fold,
        batch_size=options.batch_size,
        max_iter=options.max_iter,
        regularization=options.regularization,
        regularization_grid=options.regularization_grid,
        validation_fraction=data_args.validation_fraction,
    )

    path = write_baseline_results(results, benchmark, options, data_args.dataset_name)
    logger.info(f"{baseline_summary_line(results, benchmark, options.feature_set)} -> {path}")
    return results


if __name__ == "__main__":
    run_main(main)
