#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Fine-tune an AaSP checkpoint (or any AutoModelForAudioClassification) on a benchmark with transformers' Trainer.

    python examples/finetune.py --model_name_or_path <ckpt> --benchmark esc50 --fold 3 --output_dir out/esc50-f3
    python examples/finetune.py --model_name_or_path <ckpt> --benchmark esc50 --all_folds --output_dir out/esc50
    python examples/finetune.py --model_name_or_path <ckpt> --dataset_name <hub id or path> \
        --audio_column audio --label_column label --output_dir out/custom

Each run writes `results.json`, the model, its feature extractor and a model card (README.md) into its folder;
`--all_folds` runs every fold in `<output_dir>/fold_<k>` and writes the mean and spread to `all_results.json`.
Recipe: mixup, SpecAugment, random crop, layer-wise learning-rate decay, label smoothing (`--label_smoothing_factor`),
freezing AaPE (`--freeze_feature_encoder`) or the whole encoder (`--freeze_base_model`), class-balanced sampling.
"""

import json
import logging
import re
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio
import transformers
from huggingface_hub import HfApi
from torch.utils.data import WeightedRandomSampler
from transformers import (
    AutoFeatureExtractor,
    AutoModelForAudioClassification,
    HfArgumentParser,
    Trainer,
    TrainingArguments,
    set_seed,
)

import transformers_aasp  # noqa: F401  (registers AaSP with the Auto classes)
from transformers_aasp.audio import crop_or_pad, decode_waveform
from transformers_aasp.data.benchmarks import (
    SAMPLING_RATE,
    LoadedBenchmark,
    class_balanced_weights,
    encode_targets,
    get_benchmark,
    resolve_benchmark,
    undecoded_audio,
)
from transformers_aasp.reporting.metrics import build_compute_metrics, metric_name, score_logits, summarize_scores
from transformers_aasp.reporting.model_card import ReportedResult, finetuned_card
from transformers_aasp.training.optimization import is_weight_decay_exempt


logger = transformers.utils.logging.get_logger("transformers_aasp.finetune")


@dataclass
class ModelArguments:
    model_name_or_path: str = field(metadata={"help": "Checkpoint (Hub id or folder) to fine-tune."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow the checkpoint's own code."})
    ignore_mismatched_sizes: bool = field(default=False, metadata={"help": "Replace a classifier of another size."})
    freeze_feature_encoder: bool = field(default=False, metadata={"help": "Freeze the patch stem (AaPE)."})
    freeze_base_model: bool = field(default=False, metadata={"help": "Freeze the whole encoder (train the head)."})
    layer_decay: float = field(default=1.0, metadata={"help": "Layer-wise lr decay: layer l gets lr * decay^(L+1-l)."})


@dataclass
class DataArguments:
    benchmark: str | None = field(default=None, metadata={"help": "Registered benchmark, e.g. esc50, as20k, spcv2."})
    dataset_name: str | None = field(default=None, metadata={"help": "Hub id or local path (overrides the copy)."})
    dataset_config_name: str | None = field(default=None, metadata={"help": "Config of --dataset_name."})
    audio_column: str = field(default="audio", metadata={"help": "Audio column of --dataset_name."})
    label_column: str = field(default="label", metadata={"help": "Label column of --dataset_name."})
    multi_label: bool = field(default=False, metadata={"help": "--dataset_name labels are lists (multi-label)."})
    fold_column: str | None = field(default=None, metadata={"help": "--dataset_name: leave-one-fold-out column."})
    train_split: str = field(default="train", metadata={"help": "--dataset_name: training split."})
    validation_split: str | None = field(default="validation", metadata={"help": "--dataset_name: validation split."})
    test_split: str = field(default="test", metadata={"help": "--dataset_name: test split."})
    fold: int | None = field(default=None, metadata={"help": "Held-out fold of a cross-validation benchmark."})
    all_folds: bool = field(default=False, metadata={"help": "Run every fold and report mean and spread."})
    validation_fraction: float = field(
        default=0.1, metadata={"help": "Without a validation split: stratified fraction of train held out (0: none)."}
    )
    clip_seconds: float | None = field(default=None, metadata={"help": "Clip length (default: the benchmark's)."})
    verify_split_sizes: bool = field(default=True, metadata={"help": "Check official split sizes (SPCV2)."})
    corpus_clips_per_class: int | None = field(
        default=None, metadata={"help": "Embedded corpus tasks: clips per class to build (default: the corpus's)."}
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Truncate train (debugging)."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Truncate validation and test (debugging)."})


@dataclass
class RecipeArguments:
    mixup_alpha: float = field(default=0.0, metadata={"help": "Mixup Beta(alpha, alpha); 0 disables mixup."})
    freq_mask_param: int = field(default=0, metadata={"help": "SpecAugment: max mel bins per frequency mask."})
    time_mask_param: int = field(default=0, metadata={"help": "SpecAugment: max frames per time mask."})
    num_masks: int = field(default=2, metadata={"help": "SpecAugment: masks of each kind per clip."})
    random_crop: bool = field(default=True, metadata={"help": "Random crop of long training clips (else start)."})
    class_balanced_sampling: bool | None = field(
        default=None, metadata={"help": "Sample by inverse label frequency (default: the benchmark's, on for as2m)."}
    )
    hub_model_name: str | None = field(default=None, metadata={"help": "Model name in the card (default: folder)."})


# ----------------------------------------------------------------------------------------------------------------------
# Data


class ClipTransform:
    """`datasets` transform: decoded, cropped / padded 16 kHz waveforms; None for clips that cannot be decoded."""

    def __init__(self, clip_samples: int, random_crop: bool, seed: int):
        self.clip_samples = clip_samples
        self.rng = np.random.default_rng(seed) if random_crop else None

    def __call__(self, batch: dict) -> dict:
        waveforms = []
        for audio in batch["audio"]:
            waveform = decode_waveform(audio)
            waveforms.append(None if waveform is None else crop_or_pad(waveform, self.clip_samples, self.rng))
        return {"waveform": waveforms, "label": batch["label"]}


class AudioClassificationCollator:
    """Turns clips into model inputs: `input_values` (B, T, F), `attention_mask` (B, T), `labels` (B,) or (B, K).

    Clips that could not be decoded are skipped and counted (`num_skipped`).
    """

    def __init__(self, feature_extractor, num_labels: int, multi_label: bool):
        self.feature_extractor = feature_extractor
        self.num_labels = num_labels
        self.multi_label = multi_label
        self.num_skipped = 0

    def __call__(self, examples: list[dict]) -> dict:
        usable = [e for e in examples if e["waveform"] is not None]
        if len(usable) < len(examples):
            self.num_skipped += len(examples) - len(usable)
            logger.warning(f"Skipped {self.num_skipped} undecodable clip(s) so far.")
        if not usable:
            raise RuntimeError("Every clip of a batch failed to decode; check the dataset's audio column.")
        batch = self.feature_extractor(
            [e["waveform"] for e in usable], sampling_rate=SAMPLING_RATE, return_tensors="pt"
        )
        labels = encode_targets([e["label"] for e in usable], self.num_labels, self.multi_label)
        return {**batch, "labels": torch.from_numpy(labels)}


# ----------------------------------------------------------------------------------------------------------------------
# Training recipe


def layer_id(parameter_name: str, num_layers: int) -> int:
    """0 for the patch stem and embeddings, l + 1 for Transformer layer l, L + 1 for the final norm and the head."""
    match = re.search(r"\.layers?\.(\d+)\.", parameter_name)
    if match:
        return int(match.group(1)) + 1
    if "embed" in parameter_name or "cls_token" in parameter_name:
        return 0
    return num_layers + 1


def layer_decay_groups(model, learning_rate: float, weight_decay: float, decay: float) -> list[dict]:
    """Optimizer parameter groups with lr * decay^(L + 1 - layer_id); no weight decay on biases and norms."""
    num_layers = model.config.num_hidden_layers
    groups: dict[tuple[int, bool], dict] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        layer = layer_id(name, num_layers)
        no_decay = is_weight_decay_exempt(name, parameter)
        group = groups.setdefault(
            (layer, no_decay),
            {
                "params": [],
                "lr": learning_rate * decay ** (num_layers + 1 - layer),
                "weight_decay": 0.0 if no_decay else weight_decay,
            },
        )
        group["params"].append(parameter)
    return list(groups.values())


def spec_augment(input_values: torch.Tensor, freq_mask_param: int, time_mask_param: int, num_masks: int):
    """(B, T, F) -> (B, T, F) with `num_masks` random frequency and time masks per clip (value 0 = the data mean)."""
    spectrogram = input_values.transpose(1, 2).unsqueeze(1)  # (B, 1, F, T)
    for _ in range(num_masks):
        if freq_mask_param > 0:
            spectrogram = torchaudio.transforms.FrequencyMasking(freq_mask_param, iid_masks=True)(spectrogram)
        if time_mask_param > 0:
            spectrogram = torchaudio.transforms.TimeMasking(time_mask_param, iid_masks=True)(spectrogram)
    return spectrogram.squeeze(1).transpose(1, 2)


def mix_batch(inputs: dict, targets: torch.Tensor, alpha: float):
    """Mixup of spectrograms and soft targets with one Beta(alpha, alpha) weight per batch."""
    weight = float(np.random.beta(alpha, alpha))
    order = torch.randperm(targets.shape[0], device=targets.device)
    mixed = dict(inputs)
    mixed["input_values"] = weight * inputs["input_values"] + (1 - weight) * inputs["input_values"][order]
    if inputs.get("attention_mask") is not None:
        mixed["attention_mask"] = torch.maximum(inputs["attention_mask"], inputs["attention_mask"][order])
    return mixed, weight * targets + (1 - weight) * targets[order]


def soft_target_loss(logits: torch.Tensor, targets: torch.Tensor, multi_label: bool, smoothing: float):
    """Cross-entropy on (B, K) soft targets, or BCE for multi-label; `smoothing` spreads mass uniformly."""
    if multi_label:
        targets = targets * (1 - smoothing) + smoothing / 2
        return F.binary_cross_entropy_with_logits(logits, targets)
    targets = targets * (1 - smoothing) + smoothing / logits.shape[-1]
    return -(targets * F.log_softmax(logits, dim=-1)).sum(dim=-1).mean()


class RecipeTrainer(Trainer):
    """Trainer with the fine-tuning recipe: mixup, SpecAugment, label smoothing, layer-wise lr decay and an optional
    class-balanced sampler."""

    def __init__(self, *args, recipe: RecipeArguments, multi_label: bool, layer_decay: float, sample_weights=None,
                 **kwargs):  # fmt: skip
        super().__init__(*args, **kwargs)
        self.recipe = recipe
        self.multi_label = multi_label
        self.layer_decay = layer_decay
        self.sample_weights = sample_weights

    def create_optimizer(self, model=None):
        if self.optimizer is None and self.layer_decay != 1.0:
            model = self.model if model is None else model
            optimizer_cls, optimizer_kwargs = Trainer.get_optimizer_cls_and_kwargs(self.args, model)
            optimizer_kwargs.pop("lr", None)
            groups = layer_decay_groups(model, self.args.learning_rate, self.args.weight_decay, self.layer_decay)
            self.optimizer = optimizer_cls(groups, **optimizer_kwargs)
        return super().create_optimizer(model)

    def _get_train_sampler(self, train_dataset=None):
        if self.sample_weights is None:
            return super()._get_train_sampler(train_dataset)
        return WeightedRandomSampler(torch.as_tensor(self.sample_weights), num_samples=len(self.sample_weights))

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        labels = inputs.pop("labels")
        num_labels = model.config.num_labels
        targets = labels.float() if self.multi_label else F.one_hot(labels, num_labels).float()
        if model.training:
            if self.recipe.mixup_alpha > 0:
                inputs, targets = mix_batch(inputs, targets, self.recipe.mixup_alpha)
            if self.recipe.freq_mask_param > 0 or self.recipe.time_mask_param > 0:
                inputs["input_values"] = spec_augment(
                    inputs["input_values"], self.recipe.freq_mask_param, self.recipe.time_mask_param,
                    self.recipe.num_masks,
                )  # fmt: skip
        outputs = model(**inputs)
        loss = soft_target_loss(outputs.logits, targets, self.multi_label, self.args.label_smoothing_factor)
        return (loss, outputs) if return_outputs else loss


# ----------------------------------------------------------------------------------------------------------------------
# One run


def parse_arguments(args: list[str] | None = None):
    parser = HfArgumentParser((ModelArguments, DataArguments, RecipeArguments, TrainingArguments))
    if args is None and len(sys.argv) == 2 and sys.argv[1].endswith(".json"):
        return parser.parse_json_file(json_file=sys.argv[1])
    return parser.parse_args_into_dataclasses(args=args)


def setup_logging(training_args: TrainingArguments) -> None:
    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", handlers=[logging.StreamHandler()]
    )
    level = training_args.get_process_log_level()
    transformers.utils.logging.set_verbosity(level)
    transformers.utils.logging.enable_default_handler()


def benchmark_from_arguments(data_args: DataArguments) -> LoadedBenchmark:
    return resolve_benchmark(
        data_args.benchmark,
        data_args.dataset_name,
        audio_column=data_args.audio_column,
        label_column=data_args.label_column,
        dataset_config=data_args.dataset_config_name,
        multi_label=data_args.multi_label,
        fold_column=data_args.fold_column,
        train_split=data_args.train_split,
        validation_split=data_args.validation_split,
        test_split=data_args.test_split,
        clip_seconds=data_args.clip_seconds,
        verify_split_sizes=data_args.verify_split_sizes,
        corpus_clips_per_class=data_args.corpus_clips_per_class,
    )


def folds_to_run(benchmark: LoadedBenchmark, data_args: DataArguments) -> list[int | None]:
    folds = benchmark.spec.folds
    if data_args.all_folds:
        if folds == [None]:
            raise ValueError(f"{benchmark.spec.display_name} has no folds; drop --all_folds.")
        return folds
    if folds != [None] and data_args.fold is None:
        raise ValueError(
            f"{benchmark.spec.display_name} is a {len(folds)}-fold benchmark: pass --fold or --all_folds."
        )
    return [data_args.fold]


def load_model(model_args: ModelArguments, benchmark: LoadedBenchmark):
    multi_label = benchmark.spec.multi_label
    model = AutoModelForAudioClassification.from_pretrained(
        model_args.model_name_or_path,
        num_labels=benchmark.num_labels,
        id2label=benchmark.id2label,
        label2id=benchmark.label2id,
        problem_type="multi_label_classification" if multi_label else "single_label_classification",
        ignore_mismatched_sizes=model_args.ignore_mismatched_sizes,
        trust_remote_code=model_args.trust_remote_code,
    )
    if model_args.freeze_base_model:
        freeze = getattr(model, "freeze_base_model", None)
        freeze() if freeze else model.base_model.requires_grad_(False)
    if model_args.freeze_feature_encoder:
        if not hasattr(model, "freeze_feature_encoder"):
            raise ValueError(f"{type(model).__name__} has no freeze_feature_encoder(); drop --freeze_feature_encoder.")
        model.freeze_feature_encoder()
    return model


def prepare_splits(benchmark: LoadedBenchmark, fold, data_args, recipe, seed):
    splits = benchmark.splits(fold, validation_fraction=data_args.validation_fraction, seed=seed)
    limits = {"train": data_args.max_train_samples, "validation": data_args.max_eval_samples,
              "test": data_args.max_eval_samples}  # fmt: skip
    clip_samples = benchmark.spec.clip_samples
    prepared = {}
    for name, dataset in splits.items():
        if limits[name] is not None:
            dataset = dataset.select(range(min(limits[name], dataset.num_rows)))
        random_crop = recipe.random_crop and name == "train"
        prepared[name] = undecoded_audio(dataset).with_transform(ClipTransform(clip_samples, random_crop, seed))
    return prepared, splits


def run_folder(output_dir: str, fold, data_args: DataArguments) -> Path:
    """`<output_dir>/fold_<k>` for each run of --all_folds, else `<output_dir>`."""
    return Path(output_dir) / f"fold_{fold}" if data_args.all_folds else Path(output_dir)


def run_fold(fold, benchmark, model_args, data_args, recipe, training_args) -> dict:
    """Fine-tune on one fold (or the single train/test split); returns the run's results."""
    run_dir = run_folder(training_args.output_dir, fold, data_args)
    args = replace(training_args, output_dir=str(run_dir), remove_unused_columns=False)
    set_seed(args.seed)
    prepared, raw_splits = prepare_splits(benchmark, fold, data_args, recipe, args.seed)
    if "validation" not in prepared and args.eval_strategy != "no":
        logger.warning("No validation data: evaluation during training is turned off.")
        args = replace(args, eval_strategy="no", load_best_model_at_end=False)
    feature_extractor = AutoFeatureExtractor.from_pretrained(
        model_args.model_name_or_path, trust_remote_code=model_args.trust_remote_code
    )
    model = load_model(model_args, benchmark)
    multi_label = benchmark.spec.multi_label
    collator = AudioClassificationCollator(feature_extractor, benchmark.num_labels, multi_label)
    trainer = RecipeTrainer(
        model=model,
        args=args,
        train_dataset=prepared["train"],
        eval_dataset=prepared.get("validation"),
        data_collator=collator,
        processing_class=feature_extractor,
        compute_metrics=build_compute_metrics(multi_label),
        recipe=recipe,
        multi_label=multi_label,
        layer_decay=model_args.layer_decay,
        sample_weights=training_sample_weights(benchmark, raw_splits["train"], recipe),
    )
    train_result = trainer.train()
    test_metrics = evaluate_test(trainer, prepared["test"], multi_label)
    results = {
        "benchmark": benchmark.spec.name,
        "fold": fold,
        "metric": metric_name(multi_label),
        "test_score": test_metrics["score"],
        "num_test_clips": test_metrics["num_clips"],
        "train_loss": train_result.training_loss,
        "skipped_clips": collator.num_skipped,
    }
    trainer.save_model(str(run_dir))
    if data_args.all_folds:
        write_json(results, run_dir / "results.json")
    return results


def training_sample_weights(benchmark: LoadedBenchmark, train_split, recipe: RecipeArguments):
    balanced = recipe.class_balanced_sampling
    if balanced is None:
        balanced = benchmark.spec.class_balanced_sampling
    if not balanced:
        return None
    labels = train_split.select_columns(["label"]).to_dict()["label"]
    return class_balanced_weights(labels, benchmark.num_labels)


def evaluate_test(trainer: Trainer, test_dataset, multi_label: bool) -> dict:
    prediction = trainer.predict(test_dataset, metric_key_prefix="test")
    trainer.log_metrics("test", prediction.metrics)
    score = score_logits(prediction.predictions, prediction.label_ids, multi_label)[metric_name(multi_label)]
    return {"score": score, "num_clips": int(prediction.label_ids.shape[0])}


# ----------------------------------------------------------------------------------------------------------------------
# Reporting and publishing


def summarize_runs(runs: list[dict], benchmark: LoadedBenchmark) -> dict:
    summary = summarize_scores([run["test_score"] for run in runs])
    return {
        "benchmark": benchmark.spec.name,
        "dataset": benchmark.spec.dataset_id,
        "metric": runs[0]["metric"],
        "protocol": benchmark.spec.protocol_description,
        "folds": {str(run["fold"]): run["test_score"] for run in runs},
        **summary,
    }


def write_json(payload: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=float))
    logger.info(f"Wrote {path}")


def card_dataset_id(benchmark: LoadedBenchmark, data_args: DataArguments) -> str:
    """The Hub id to cite: the registry's id even when a local copy with the same layout was loaded."""
    if data_args.benchmark is not None:
        return get_benchmark(data_args.benchmark).dataset_id or data_args.benchmark
    return benchmark.spec.dataset_id


def build_card(summary: dict, benchmark: LoadedBenchmark, model_args, data_args, recipe, training_args, model_name):
    spec = benchmark.spec
    dataset_id = card_dataset_id(benchmark, data_args)
    split = f"{spec.num_folds}-fold CV" if len(summary["folds"]) > 1 else "test"
    result = ReportedResult(
        dataset_id=dataset_id,
        dataset_name=spec.display_name,
        dataset_config=spec.dataset_config,
        metric=summary["metric"],
        value=summary["mean"],
        split=split,
        protocol="fine-tuning",
        spread=summary["ci95"] if summary["n"] > 1 else None,
    )
    folds = {k: v for k, v in summary["folds"].items() if k != "None"} or None
    return finetuned_card(
        model_name=model_name,
        base_model=model_args.model_name_or_path,
        dataset_id=dataset_id,
        dataset_name=spec.display_name,
        dataset_config=spec.dataset_config,
        label_names=benchmark.label_names,
        multi_label=spec.multi_label,
        results=[result],
        training_args=card_hyperparameters(model_args, recipe, training_args),
        protocol=spec.protocol_description + (f" (fold {data_args.fold} held out)" if data_args.fold else ""),
        clip_seconds=spec.clip_seconds,
        fold_scores=folds,
        repo_id=training_args.hub_model_id or model_name,
    )


def card_hyperparameters(model_args, recipe, training_args) -> dict:
    keys = ("learning_rate", "per_device_train_batch_size", "num_train_epochs", "max_steps", "warmup_steps",
            "weight_decay", "lr_scheduler_type", "label_smoothing_factor", "seed")  # fmt: skip
    values = {key: getattr(training_args, key) for key in keys}
    values.update({k: v for k, v in asdict(recipe).items() if k != "hub_model_name"})
    values.update(layer_decay=model_args.layer_decay, freeze_feature_encoder=model_args.freeze_feature_encoder,
                  freeze_base_model=model_args.freeze_base_model)  # fmt: skip
    return values


def publish(folder: Path, repo_id: str, training_args: TrainingArguments) -> None:
    """Upload the model, feature extractor, code files (auto_map) and card of `folder` to `repo_id`."""
    api = HfApi(token=training_args.hub_token)
    api.create_repo(repo_id, exist_ok=True, private=training_args.hub_private_repo)
    api.upload_folder(
        repo_id=repo_id,
        folder_path=str(folder),
        commit_message="Fine-tuned AaSP checkpoint",
        ignore_patterns=["checkpoint-*", "checkpoint-*/**", "runs/**", "fold_*/**", "training_args.bin"],
    )
    logger.info(f"Published {folder} to {repo_id}")


def main(args: list[str] | None = None) -> dict:
    model_args, data_args, recipe, training_args = parse_arguments(args)
    setup_logging(training_args)
    if training_args.push_to_hub and data_args.all_folds:
        raise ValueError("--push_to_hub publishes one model: pass --fold instead of --all_folds.")
    push_to_hub = training_args.push_to_hub
    training_args = replace(training_args, push_to_hub=False)

    benchmark = benchmark_from_arguments(data_args)
    folds = folds_to_run(benchmark, data_args)
    runs = [run_fold(fold, benchmark, model_args, data_args, recipe, training_args) for fold in folds]
    summary = summarize_runs(runs, benchmark)
    output_dir = Path(training_args.output_dir)
    write_json(summary, output_dir / ("all_results.json" if data_args.all_folds else "results.json"))

    model_name = recipe.hub_model_name or training_args.hub_model_id or output_dir.name
    card = build_card(summary, benchmark, model_args, data_args, recipe, training_args, model_name)
    card.save(output_dir / "README.md")
    if push_to_hub:
        publish(output_dir, training_args.hub_model_id or model_name, training_args)
    logger.info(f"{benchmark.spec.display_name}: {summary['metric']} = {summary['mean']:.4f} ± {summary['ci95']:.4f}")
    return summary


if __name__ == "__main__":
    main()
