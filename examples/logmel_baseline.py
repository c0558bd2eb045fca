#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The log-mel statistics baseline on a registered single-label benchmark: what a learned encoder has to beat.

    python examples/logmel_baseline.py --benchmark keyword [--corpus_clips_per_class N] [--feature_set full]
    python examples/logmel_baseline.py --benchmark esc50 --feature_set stats --output_dir out/baseline

Protocol (`transformers_aasp.evaluation.baseline`):
    1. Clips are decoded like linear evaluation's (`tasks.decode_waveform`) and cut to the benchmark's clip length
       (first `clip_seconds`); shorter clips are not zero-padded, their padding frames are masked out.
    2. Per clip, from the AaSP log-mel frames: mean and standard deviation of every mel bin ("stats", 160 values);
       "full" adds the standard deviation of frame-to-frame differences and a 16-band x 12-bin modulation spectrum
       over 0.5-50 Hz (432 values).
    3. StandardScaler + LogisticRegression trained on train + validation, accuracy on test (cross-validation
       benchmarks: every fold, or `--fold`, test predictions pooled), with a 95 % Wilson score interval.

The log-mel frames come from `--feature_extractor_name_or_path` (an AaSP checkpoint or feature-extractor folder) or
else from a default `AaSPFeatureExtractor()`, whose normalisation is mean 0 / std 1 (no dataset statistics). That is
fine here: every feature is standardised before the classifier, so a different affine normalisation only shifts the
fixed eps of the modulation log-power relative to the signal.

Writes `<output_dir>/logmel_baseline_<benchmark>.json`. Multi-label benchmarks (AudioSet, metric mAP) are refused.
"""

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import transformers
from transformers import AutoFeatureExtractor, HfArgumentParser

import transformers_aasp  # noqa: F401  (registers AaSP with the Auto classes)
from transformers_aasp.data.benchmarks import LoadedBenchmark, get_benchmark, resolve_benchmark
from transformers_aasp.evaluation.baseline import evaluate_logmel_baseline
from transformers_aasp.feature_extraction_aasp import AaSPFeatureExtractor


logger = transformers.utils.logging.get_logger("transformers_aasp.logmel_baseline")

PROTOCOL = "log-mel statistics + StandardScaler + LogisticRegression, trained on train+validation, accuracy on test"


@dataclass
class LogmelBaselineArguments:
    benchmark: str = field(metadata={"help": "Registered single-label benchmark, e.g. keyword or esc50."})
    dataset_name: str | None = field(default=None, metadata={"help": "Hub id or local copy of --benchmark."})
    feature_set: Literal["stats", "full"] = field(
        default="full", metadata={"help": "stats: mean + std per mel bin; full: + delta std + modulation spectrum."}
    )
    feature_extractor_name_or_path: str | None = field(
        default=None, metadata={"help": "AaSP feature extractor to load (default: AaSPFeatureExtractor())."}
    )
    fold: int | None = field(default=None, metadata={"help": "Cross-validation benchmarks: one fold only."})
    clip_seconds: float | None = field(default=None, metadata={"help": "Clip length (default: the benchmark's)."})
    verify_split_sizes: bool = field(default=True, metadata={"help": "Check official split sizes (SPCV2)."})
    corpus_clips_per_class: int | None = field(
        default=None, metadata={"help": "Embedded corpus tasks: clips per class to build (default: the corpus's)."}
    )
    batch_size: int = field(default=32, metadata={"help": "Clips per feature-extractor call."})
    max_iter: int = field(default=2000, metadata={"help": "LogisticRegression max_iter."})
    regularization: float = field(default=1.0, metadata={"help": "LogisticRegression C (inverse L2 strength)."})
    output_dir: str = field(default="outputs/logmel_baseline", metadata={"help": "Where the results JSON goes."})


def parse_arguments(args: list[str] | None = None) -> LogmelBaselineArguments:
    (parsed,) = HfArgumentParser(LogmelBaselineArguments).parse_args_into_dataclasses(args=args)
    return parsed


def refuse_multi_label(name: str) -> None:
    """Fail before any data is loaded when the registered benchmark is multi-label."""
    spec = get_benchmark(name)
    if spec.multi_label:
        raise ValueError(
            f"The log-mel baseline handles single-label classification only (accuracy); benchmark {name!r} "
            f"({spec.display_name}) is multi-label (its metric is mAP)."
        )


def load_feature_extractor(name_or_path: str | None) -> AaSPFeatureExtractor:
    if name_or_path is None:
        return AaSPFeatureExtractor()
    feature_extractor = AutoFeatureExtractor.from_pretrained(name_or_path)
    if not isinstance(feature_extractor, AaSPFeatureExtractor):
        raise ValueError(
            f"{name_or_path} holds a {type(feature_extractor).__name__}; the baseline needs an AaSPFeatureExtractor "
            "(log-mel frames with an attention mask)."
        )
    return feature_extractor


def benchmark_from_arguments(args: LogmelBaselineArguments) -> LoadedBenchmark:
    return resolve_benchmark(
        args.benchmark,
        args.dataset_name,
        clip_seconds=args.clip_seconds,
        verify_split_sizes=args.verify_split_sizes,
        corpus_clips_per_class=args.corpus_clips_per_class,
    )


def write_results(results: dict, args: LogmelBaselineArguments, benchmark: LoadedBenchmark) -> Path:
    path = Path(args.output_dir) / f"logmel_baseline_{benchmark.spec.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": benchmark.spec.name,
        "display_name": benchmark.spec.display_name,
        "dataset": args.dataset_name or benchmark.spec.dataset_id,
        "protocol": PROTOCOL,
        "feature_extractor": args.feature_extractor_name_or_path or "AaSPFeatureExtractor() (mean 0, std 1)",
        **results,
    }
    path.write_text(json.dumps(payload, indent=2))
    return path


def main(argv: list[str] | None = None) -> dict:
    args = parse_arguments(argv)
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", level=logging.INFO)
    transformers.utils.logging.set_verbosity_info()
    refuse_multi_label(args.benchmark)
    benchmark = benchmark_from_arguments(args)
    results = evaluate_logmel_baseline(
        benchmark,
        load_feature_extractor(args.feature_extractor_name_or_path),
        feature_set=args.feature_set,
        clip_seconds=args.clip_seconds,
        fold=args.fold,
        batch_size=args.batch_size,
        max_iter=args.max_iter,
        regularization=args.regularization,
    )
    path = write_results(results, args, benchmark)
    logger.info(
        f"{benchmark.spec.display_name} | log-mel baseline ({args.feature_set}) | accuracy "
        f"{100 * results['accuracy']:.2f} % (95 % Wilson interval {100 * results['ci95_low']:.1f}-"
        f"{100 * results['ci95_high']:.1f} %, {results['num_test_clips']} test clips; chance "
        f"{100 * results['chance']:.1f} %) -> {path}"
    )
    return results


if __name__ == "__main__":
    main()
