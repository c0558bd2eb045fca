# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The fine-tuning recipe: a benchmark's clips -> transformers' `Trainer` -> a classifier, its results and its card.

`fine_tune` trains on one fold (or the single train/test split) and scores the protocol's test split; `--all_folds`
runs every fold and `summarize_runs` gives mean, spread and 95 % interval. `RecipeTrainer` adds augmentation
(`training/augment.py`), layer-wise lr decay, label smoothing on soft targets, class-balanced sampling and evaluation
logits averaged over time-shifted views (`tta.average_shifted_views`, as the pipeline runs the saved model).
"""

from __future__ import annotations

import json
import re
import shutil
import zlib
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, cast

import datasets
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import WeightedRandomSampler
from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModelForAudioClassification,
    PreTrainedModel,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.utils import logging

from ..audio import ANALYSIS_WINDOW_SAMPLES, SAMPLING_RATE, decode_waveform, fit_clip
from ..configuration_aasp import CLASSIFIER_POOLINGS
from ..data.loading import LoadedTask
from ..data.protocols import class_balanced_weights, encode_targets
from ..data.sources import undecoded_audio
from ..data.tasks import get_task
from ..reporting.metrics import build_compute_metrics, metric_name, score_logits, summarize_scores, wilson_interval
from ..reporting.model_card import ReportedResult, TrainingDataset, finetuned_card
from ..tta import average_shifted_views, shift_offsets
from .arguments import ModelArguments, TaskDataArguments, check_checkpoint_path, option
from .augment import AugmentationArguments, augment_batch
from .optimization import is_weight_decay_exempt


logger = logging.get_logger(__name__)

RESUME_LATEST = ("latest", "last")  # --resume_from_checkpoint values naming the newest complete checkpoint
SETTINGS_FILE = "fine_tuning_settings.json"  # the settings that trained a run folder's checkpoints
RUN_FILES = ("model.safetensors", "trainer_state.json", "results.json", "all_results.json", "train_results.json")
RUN_LENGTH_SETTINGS = ("num_train_epochs", "max_steps")  # a resumed run may be extended
# finetune.py's defaults of transformers' TrainingArguments (chosen on validation accuracy, see docs/downstream.md):
# a freshly initialised head and a small labelled set need a larger learning rate and more epochs than its defaults
FINE_TUNING_DEFAULTS = {"learning_rate": 1e-3, "num_train_epochs": 15, "warmup_steps": 0.1, "weight_decay": 0.01}


# Options
@dataclass
class FineTuningModelArguments(ModelArguments):
    """The checkpoint and what of it is trained."""

    ignore_mismatched_sizes: bool = option(False, "Replace a classifier of another size.")
    freeze_feature_encoder: bool = option(False, "Freeze the patch stem (AaPE).")
    freeze_base_model: bool = option(False, "Freeze the whole encoder (train the head).")
    layer_decay: float = option(1.0, "Layer-wise lr decay: layer l gets lr * decay^(L+1-l).")
    classifier_pooling: str | None = option(
        None,
        f"AaSP checkpoints: how the head pools the encoder, one of {', '.join(CLASSIFIER_POOLINGS)} "
        "(default: the checkpoint's config.classifier_pooling).",
    )
    classifier_shift_views: int | None = option(
        None,
        "AaSP checkpoints: time-shifted views whose logits evaluation averages, 1 to the time patch "
        "size (default: the checkpoint's config.classifier_shift_views); saved as that config hint, which the "
        "pipeline applies. With more than one, the test split is also scored on the unshifted view alone "
        "(test_score_single_view).",
    )

    def __post_init__(self):
        super().__post_init__()
        if self.classifier_pooling is not None and self.classifier_pooling not in CLASSIFIER_POOLINGS:
            raise ValueError(
                f"--classifier_pooling {self.classifier_pooling!r} is not one of {', '.join(CLASSIFIER_POOLINGS)}."
            )


@dataclass
class FineTuningDataArguments(TaskDataArguments):
    """The benchmark options plus the fine-tuning-only ones."""

    all_folds: bool = option(False, "Run every fold and report mean and spread.")
    max_train_samples: int | None = option(None, "Truncate train (debugging).")
    max_eval_samples: int | None = option(None, "Truncate validation and test (debugging).")
    train_on_validation: bool = option(False, "Train on train + validation (a final run with --eval_strategy no).")


@dataclass
class RecipeArguments(AugmentationArguments):
    """Augmentation (`training/augment.py`) and sampling of the recipe, and the card's model name."""

    random_crop: bool = option(True, "Random crop of long training clips (else start).")
    class_balanced_sampling: bool | None = option(None, "Sample by inverse label frequency (default: on for as2m).")
    hub_model_name: str | None = option(None, "Model name in the card (default: folder).")


@dataclass
class OutputFolderArguments:
    """What to do with an --output_dir that already holds a fine-tuning run (with --resume_from_checkpoint)."""

    overwrite_output_dir: bool = option(
        False, "Start over in an --output_dir holding an earlier run (deleting its checkpoint-* folders)."
    )


# Data
class ClipTransform:
    """`datasets` transform: decoded 16 kHz waveforms cut by `fit_clip` (at most `clip_samples`, at least
    `min_samples`); None for clips that cannot be decoded. A random crop is drawn from (seed, `epoch`, the clip's path
    or bytes), so that a resumed run crops every clip as the uninterrupted run did (`CropEpochCallback` sets `epoch`)."""

    def __init__(self, clip_samples: int, random_crop: bool, seed: int, min_samples: int = ANALYSIS_WINDOW_SAMPLES):
        self.clip_samples, self.min_samples = clip_samples, min_samples
        self.random_crop, self.seed, self.epoch = random_crop, seed, 0

    def crop_generator(self, audio) -> np.random.Generator | None:
        if not self.random_crop:
            return None
        identity = audio.get("path") or audio.get("bytes") or b"" if isinstance(audio, dict) else b""
        key = zlib.crc32(identity.encode() if isinstance(identity, str) else identity)
        return np.random.default_rng([self.seed, self.epoch, key])

    def __call__(self, batch: dict) -> dict:
        waveforms = []
        for audio in batch["audio"]:
            waveform = decode_waveform(audio)
            rng = self.crop_generator(audio)
            waveforms.append(
                None if waveform is None else fit_clip(waveform, self.clip_samples, self.min_samples, rng)
            )
        return {"waveform": waveforms, "label": batch["label"]}


class CropEpochCallback(TrainerCallback):
    """Tells the training split's `ClipTransform` which epoch starts (also the epoch a resumed run continues)."""

    def __init__(self, transform: ClipTransform):
        self.transform = transform

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.transform.epoch = int(state.epoch or 0)


class AudioClassificationCollator:
    """Clips -> `input_values` (B, T, F), `attention_mask` (B, T), `labels` (B,) or (B, K); undecodable clips are
    skipped and counted (`num_skipped`)."""

    def __init__(self, feature_extractor, num_labels: int, multi_label: bool):
        self.feature_extractor, self.num_labels, self.multi_label = feature_extractor, num_labels, multi_label
        self.num_skipped = 0

    def __call__(self, examples: list[dict]) -> dict:
        usable = [e for e in examples if e["waveform"] is not None]
        if len(usable) < len(examples):
            self.num_skipped += len(examples) - len(usable)
            logger.warning(f"Skipped {self.num_skipped} undecodable clip(s) so far.")
        if not usable:
            raise RuntimeError("Every clip of a batch failed to decode; check the dataset's audio column.")
        waveforms = [example["waveform"] for example in usable]
        batch = self.feature_extractor(waveforms, sampling_rate=SAMPLING_RATE, return_tensors="pt")
        labels = encode_targets([e["label"] for e in usable], self.num_labels, self.multi_label)
        return {**batch, "labels": torch.from_numpy(labels)}


# Recipe
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
        layer, no_decay = layer_id(name, num_layers), is_weight_decay_exempt(name, parameter)
        if (layer, no_decay) not in groups:
            lr = learning_rate * decay ** (num_layers + 1 - layer)
            groups[layer, no_decay] = {"params": [], "lr": lr, "weight_decay": 0.0 if no_decay else weight_decay}
        groups[layer, no_decay]["params"].append(parameter)
    return list(groups.values())


def soft_target_loss(logits: torch.Tensor, targets: torch.Tensor, multi_label: bool, smoothing: float):
    """Cross-entropy on (B, K) soft targets, or BCE for multi-label; `smoothing` spreads mass uniformly."""
    if multi_label:
        targets = targets * (1 - smoothing) + smoothing / 2
        return F.binary_cross_entropy_with_logits(logits, targets)
    targets = targets * (1 - smoothing) + smoothing / logits.shape[-1]
    return -(targets * F.log_softmax(logits, dim=-1)).sum(dim=-1).mean()


class RecipeTrainer(Trainer):
    """Trainer with the fine-tuning recipe: augmentation (`augment_batch`), label smoothing, layer-wise lr decay, an
    optional class-balanced sampler, and evaluation logits averaged over `shift_views` time-shifted views
    (`average_shifted_views`). `model_card`, when set, is the card `push_to_hub` writes (instead of the Trainer's)."""

    def __init__(
        self,
        *args,
        recipe: RecipeArguments,
        multi_label: bool,
        layer_decay: float,
        sample_weights=None,
        shift_views: int = 1,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.recipe, self.multi_label, self.layer_decay = recipe, multi_label, layer_decay
        self.sample_weights, self.shift_views = sample_weights, shift_views
        self._scoring_views = shift_views  # the views of the evaluation or prediction running now
        self.model_card = None

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
        # torch annotates `weights` as a float sequence; it converts it with `torch.as_tensor`, so a tensor is fine
        weights = torch.as_tensor(self.sample_weights)
        return WeightedRandomSampler(weights, num_samples=len(self.sample_weights))  # pyright: ignore[reportArgumentType]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        labels = inputs.pop("labels")
        # the Trainer holds the AaSP classifier, whose config is built with its number of classes
        num_labels = cast(int, cast(PreTrainedModel, model).config.num_labels)
        targets = labels.float() if self.multi_label else F.one_hot(labels, num_labels).float()
        if model.training:
            inputs, targets = augment_batch(inputs, targets, self.recipe, getattr(model.config, "time_patch_size", 1))
            logits = model(**inputs).logits
        else:
            values, mask = inputs["input_values"], inputs.get("attention_mask")
            logits = average_shifted_views(cast(PreTrainedModel, model), values, mask, self._scoring_views)
        loss = soft_target_loss(logits, targets, self.multi_label, self.args.label_smoothing_factor)
        return (loss, SequenceClassifierOutput(logits=logits)) if return_outputs else loss

    def predict(self, test_dataset, ignore_keys=None, metric_key_prefix: str = "test", num_views: int | None = None):
        """`Trainer.predict` with the logits averaged over `num_views` shifted views (default: `shift_views`)."""
        self._scoring_views = self.shift_views if num_views is None else num_views
        try:
            return super().predict(test_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)
        finally:
            self._scoring_views = self.shift_views

    def _push_from_checkpoint(self, checkpoint_folder: str) -> None:
        """A mid-training push uploads the output folder, into which the Trainer copies only the checkpoint's weights
        and config: the code files that `config.json`'s auto_map names go with them."""
        if self.is_world_process_zero() and self.args.hub_strategy != "end":
            for code_file in Path(checkpoint_folder).glob("*.py"):
                shutil.copy(code_file, _output_folder(self.args) / code_file.name)
        super()._push_from_checkpoint(checkpoint_folder)

    def create_model_card(self, **kwargs) -> None:
        """Writes the AaSP card (`self.model_card`) into the output folder; the Trainer's draft card otherwise."""
        if self.model_card is None:
            return super().create_model_card(**kwargs)
        if self.is_world_process_zero():
            self.model_card.save(str(_output_folder(self.args) / "README.md"))


# One run
@dataclass
class RunSteps:
    """What a run does: `--do_train` / `--do_eval` (the protocol's test split); neither flag given means both."""

    train: bool
    evaluate: bool

    @classmethod
    def from_training_arguments(cls, args: TrainingArguments) -> RunSteps:
        # TrainingArguments turns do_eval on by itself when eval_strategy is not "no": evaluation during training
        # implies training, so only a plain --do_eval (eval_strategy "no") selects evaluation alone.
        evaluate_only = args.do_eval and not args.do_train and args.eval_strategy == "no"
        train_only = args.do_train and not (args.do_eval or args.do_predict)
        return cls(train=not evaluate_only, evaluate=not train_only)


def folds_to_run(benchmark: LoadedTask, fold: int | None, all_folds: bool) -> list[int | None]:
    """The folds a command asks for: every fold with `all_folds`, else `[fold]` (required for a CV benchmark)."""
    folds = benchmark.spec.folds
    if all_folds:
        if folds == [None]:
            raise ValueError(f"{benchmark.spec.display_name} has no folds; drop --all_folds.")
        return folds
    if folds != [None] and fold is None:
        raise ValueError(
            f"{benchmark.spec.display_name} is a {len(folds)}-fold benchmark: pass --fold or --all_folds."
        )
    return [fold]


def classifier_config(model_args: FineTuningModelArguments, benchmark: LoadedTask):
    """The checkpoint's config (loaded once) for the benchmark's labels, with --classifier_pooling and
    --classifier_shift_views applied; those two are refused for a checkpoint that is not AaSP (its config would keep
    them as unused attributes, and the model would run as before)."""
    multi_label = benchmark.spec.multi_label
    config = AutoConfig.from_pretrained(
        model_args.model_name_or_path,
        num_labels=benchmark.num_labels,
        id2label=benchmark.id2label,
        label2id=benchmark.label2id,
        problem_type="multi_label_classification" if multi_label else "single_label_classification",
        trust_remote_code=model_args.trust_remote_code,
    )
    for name in ("classifier_pooling", "classifier_shift_views"):
        value = getattr(model_args, name)
        if value is not None and not hasattr(config, name):
            raise ValueError(
                f"--{name} applies to AaSP checkpoints; {model_args.model_name_or_path} is a "
                f"{config.model_type!r} model. Drop the flag."
            )
        if value is not None:
            setattr(config, name, value)
    if hasattr(config, "classifier_shift_views"):  # AaSP: the pipeline scores long recordings in windows this long
        config.clip_seconds = benchmark.spec.clip_seconds
    if model_args.classifier_shift_views is not None:  # (--classifier_pooling is checked with the other options)
        shift_offsets(model_args.classifier_shift_views, config.time_patch_size, name="--classifier_shift_views")
    return config


def load_classifier(model_args: FineTuningModelArguments, benchmark: LoadedTask, require_trained_head: bool):
    """`AutoModelForAudioClassification` for the benchmark's labels, with the requested parts frozen. With
    `require_trained_head` (evaluation only) a checkpoint whose classifier would be freshly initialised is refused."""
    model, loading_info = AutoModelForAudioClassification.from_pretrained(
        model_args.model_name_or_path,
        config=classifier_config(model_args, benchmark),
        ignore_mismatched_sizes=model_args.ignore_mismatched_sizes,
        trust_remote_code=model_args.trust_remote_code,
        output_loading_info=True,
    )
    new_weights = loading_info["missing_keys"] | set(loading_info.get("mismatched_keys", ()))
    if require_trained_head and new_weights:
        raise ValueError(
            f"--do_eval without --do_train scores {model_args.model_name_or_path} as it is, but it has no trained "
            f"classifier for {benchmark.spec.display_name} ({len(new_weights)} weights would be newly initialised, "
            f"e.g. {sorted(new_weights)[0]}); fine-tune it first (--do_train)."
        )
    if model_args.freeze_base_model:
        freeze = getattr(model, "freeze_base_model", None)
        freeze() if freeze else model.base_model.requires_grad_(False)
    if model_args.freeze_feature_encoder:
        if not hasattr(model, "freeze_feature_encoder"):
            raise ValueError(f"{type(model).__name__} has no freeze_feature_encoder(); drop --freeze_feature_encoder.")
        model.freeze_feature_encoder()
    return model


def prepare_splits(
    benchmark: LoadedTask, fold, data_args: FineTuningDataArguments, recipe, seed: int, min_samples: int
):
    """(train / validation / test datasets yielding waveforms cut by `fit_clip`, the same splits undecoded, the
    training split's `ClipTransform`); a streamed benchmark (AudioSet-2M from the Hub) gives iterable datasets,
    transformed as they are read."""
    splits = benchmark.splits(fold, validation_fraction=data_args.train_val_split, seed=seed)
    if data_args.train_on_validation and "validation" in splits:
        # both splits are of the task's one kind (map-style or streamed), which the stubs cannot express
        splits["train"] = datasets.concatenate_datasets(cast(Any, [splits["train"], splits.pop("validation")]))
    prepared, transforms = {}, {}
    for name, dataset in splits.items():
        train = name == "train"
        transform = ClipTransform(benchmark.spec.clip_samples, recipe.random_crop and train, seed, min_samples)
        transforms[name] = transform
        limit = data_args.max_train_samples if train else data_args.max_eval_samples
        dataset = undecoded_audio(dataset)
        if benchmark.streaming:
            dataset = dataset if limit is None else dataset.take(limit)
            prepared[name] = dataset.map(transform, batched=True, remove_columns=list(dataset.column_names or []))
        else:
            dataset = cast(datasets.Dataset, dataset)  # a task that is not streamed has map-style splits
            dataset = dataset if limit is None else dataset.select(range(min(limit, dataset.num_rows)))
            prepared[name] = dataset.with_transform(transform)
    return prepared, splits, transforms["train"]


def training_sample_weights(benchmark: LoadedTask, train_split, recipe: RecipeArguments):
    """Per-clip sampling weights of the class-balanced sampler, or None when it is off."""
    balanced = recipe.class_balanced_sampling
    if not (benchmark.spec.class_balanced_sampling if balanced is None else balanced):
        return None
    if benchmark.streaming:
        logger.warning(
            f"{benchmark.spec.display_name} is streamed: class-balanced sampling needs every training label up "
            "front, so clips are read in stream order. Prepare a local copy to sample by class."
        )
        return None
    labels = train_split.select_columns(["label"]).to_dict()["label"]
    return class_balanced_weights(labels, benchmark.num_labels)


def _output_folder(args: TrainingArguments) -> Path:
    """`args.output_dir` as a path (`TrainingArguments` sets its default folder when none is given)."""
    assert args.output_dir is not None  # filled in by `TrainingArguments.__post_init__`
    return Path(args.output_dir)


def check_output_folder(training_args: TrainingArguments, overwrite: bool, steps: RunSteps) -> None:
    """Refuse to train into an --output_dir that holds an earlier run (its model, results or checkpoints, also in
    fold_<k> folders) unless --resume_from_checkpoint continues it or --overwrite_output_dir starts over, which
    deletes its checkpoint-* folders so that no later resume picks one of them. Runs before any data or model loads."""
    folder = _output_folder(training_args)
    resume = training_args.resume_from_checkpoint
    if resume is not None and overwrite:
        raise ValueError("--resume_from_checkpoint continues a run and --overwrite_output_dir starts over: pass one.")
    if not steps.train or resume is not None or not folder.is_dir():
        return
    run_folders = [folder, *sorted(folder.glob("fold_*"))]
    used = [path for run in run_folders for path in (*run.glob("checkpoint-*"), *map(run.joinpath, RUN_FILES))]
    used = [path for path in used if path.exists()]
    if not used:
        return
    if not overwrite:
        raise FileExistsError(
            f"--output_dir {folder} already holds a fine-tuning run ({used[0].relative_to(folder)}); pass "
            "--resume_from_checkpoint latest to continue it, or --overwrite_output_dir to start over."
        )
    for checkpoint in [path for run in run_folders for path in run.glob("checkpoint-*")]:
        logger.warning(f"--overwrite_output_dir: deleting {checkpoint}.")
        shutil.rmtree(checkpoint)


def checkpoint_problem(folder: Path) -> str | None:
    """Why a Trainer `checkpoint-<step>` folder cannot be resumed from (a write was interrupted), or None when
    trainer_state.json (which the Trainer writes last) parses and its safetensors files are whole (header and size,
    `check_checkpoint_path`)."""
    try:
        json.loads((folder / "trainer_state.json").read_text())
        check_checkpoint_path(str(folder), "--resume_from_checkpoint", model=False)
        if not (folder / "model.safetensors").is_file():
            raise FileNotFoundError(f"{folder} holds no model.safetensors")
    except (OSError, ValueError) as error:
        return f"{type(error).__name__}: {error}"
    return None


def checkpoint_to_resume(args: TrainingArguments) -> str | None:
    """What --resume_from_checkpoint asks for: `latest`/`last` -> the newest complete checkpoint of the run folder,
    skipping newer incomplete ones with a warning naming each (None when there is none); a path -> that folder,
    refused unless complete; no flag -> None (a fresh start)."""
    requested = args.resume_from_checkpoint
    if requested in RESUME_LATEST:
        steps = {path: path.name.removeprefix("checkpoint-") for path in _output_folder(args).glob("checkpoint-*")}
        for checkpoint in sorted(steps, key=lambda path: int(steps[path]) if steps[path].isdigit() else -1)[::-1]:
            problem = checkpoint_problem(checkpoint)
            if problem is None:
                return str(checkpoint)
            logger.warning(
                f"Skipping {checkpoint}: an incomplete checkpoint, left by an interrupted write ({problem})."
            )
        logger.warning(f"--resume_from_checkpoint {requested}: no complete checkpoint in {args.output_dir}.")
        return None
    if requested is not None and not Path(requested).is_dir():
        raise FileNotFoundError(f"--resume_from_checkpoint {requested}: no such folder.")
    problem = None if requested is None else checkpoint_problem(Path(requested))
    if problem is not None:
        raise ValueError(f"--resume_from_checkpoint {requested}: not a complete checkpoint ({problem}).")
    return requested


def check_resumed_settings(checkpoint: str | None, settings: dict) -> None:
    """Refuse to resume `checkpoint` with other settings than those that trained it (its run folder's SETTINGS_FILE),
    so that a card never states settings its weights were not trained with; the run's length may change."""
    saved_file = Path(checkpoint or ".").parent / SETTINGS_FILE
    saved = json.loads(saved_file.read_text()) if checkpoint and saved_file.is_file() else settings
    changed = [key for key in settings if key not in RUN_LENGTH_SETTINGS and saved.get(key) != settings[key]]
    if changed:
        raise ValueError(
            f"{checkpoint} was trained with {', '.join(f'{key}={saved.get(key)!r}' for key in changed)}, this command "
            f"gives {', '.join(f'{key}={settings[key]!r}' for key in changed)}: resume with the same settings, or "
            "pass --overwrite_output_dir to start over."
        )


def fine_tune(
    benchmark: LoadedTask,
    fold: int | None,
    model_args: FineTuningModelArguments,
    data_args: FineTuningDataArguments,
    recipe: RecipeArguments,
    training_args: TrainingArguments,
    steps: RunSteps,
    model=None,
) -> dict:
    """Fine-tune on one fold (or the single train/test split) and/or score its test split.

    `model`: the classifier to train (default: `load_classifier` from `model_args.model_name_or_path`, which also
    gives the feature extractor either way).

    Writes into the run folder (`<output_dir>/fold_<k>` with --all_folds): the model and feature extractor (when
    trained), the Trainer's `train_results.json` / `test_results.json` / `trainer_state.json`, and with `--all_folds`
    the run's `results.json`. Returns {"benchmark", "fold", "metric", "test_score", "num_test_clips", "train_loss",
    "skipped_clips", "trainer"}; scores are None for a step that did not run.
    """
    run_dir = _output_folder(training_args) / (f"fold_{fold}" if data_args.all_folds else "")
    args = replace(training_args, output_dir=str(run_dir), remove_unused_columns=False)
    set_seed(args.seed)
    feature_extractor = AutoFeatureExtractor.from_pretrained(
        model_args.model_name_or_path, trust_remote_code=model_args.trust_remote_code
    )
    min_samples = getattr(feature_extractor, "min_num_samples", ANALYSIS_WINDOW_SAMPLES)
    prepared, raw_splits, train_transform = prepare_splits(benchmark, fold, data_args, recipe, args.seed, min_samples)
    if "validation" not in prepared and args.eval_strategy != "no":
        logger.warning("No validation data: evaluation during training is turned off.")
        args = replace(args, eval_strategy="no", load_best_model_at_end=False)
    if model is None:
        model = load_classifier(model_args, benchmark, require_trained_head=not steps.train)
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
        shift_views=getattr(model.config, "classifier_shift_views", 1),
        callbacks=[CropEpochCallback(train_transform)],
    )
    results = {"benchmark": benchmark.spec.name, "fold": fold, "metric": metric_name(multi_label)}
    num_train_clips = getattr(raw_splits["train"], "num_rows", None)  # None for a stream
    results.update(test_score=None, num_test_clips=None, train_loss=None, num_train_clips=num_train_clips)
    if steps.train:
        resume_from = checkpoint_to_resume(args)
        settings = {"base_model": model_args.model_name_or_path, **card_hyperparameters(model_args, recipe, args)}
        settings = json.loads(json.dumps(settings, default=str))  # as saved
        check_resumed_settings(resume_from, settings)
        if args.should_save:
            write_json(settings, run_dir / SETTINGS_FILE)
        train_result = trainer.train(resume_from_checkpoint=resume_from)
        if not args.push_to_hub:  # with --push_to_hub, `publish` saves the model together with its card
            trainer.save_model()
        trainer.log_metrics("train", train_result.metrics)
        trainer.save_metrics("train", train_result.metrics)
        trainer.save_state()
        results["train_loss"] = train_result.training_loss
    if steps.evaluate:
        results.update(evaluate_test(trainer, prepared["test"], multi_label))
    results["skipped_clips"] = collator.num_skipped
    if data_args.all_folds:
        write_json(dict(results), run_dir / "results.json")
    results["trainer"] = trainer
    return results


def evaluate_test(trainer: RecipeTrainer, test_dataset, multi_label: bool) -> dict:
    """{"test_score", "num_test_clips", "shift_views"} of the logits averaged over the trainer's `shift_views` (as the
    pipeline runs the model), plus "test_score_single_view" (the unshifted view) when V > 1; saved as `test_*` and
    `test_single_view_*` metrics."""
    results = score_test_split(trainer, test_dataset, multi_label, trainer.shift_views, "test")
    results["shift_views"] = trainer.shift_views
    if trainer.shift_views > 1:
        single = score_test_split(trainer, test_dataset, multi_label, 1, "test_single_view")
        results["test_score_single_view"] = single["test_score"]
    return results


def score_test_split(trainer: RecipeTrainer, test_dataset, multi_label: bool, num_views: int, prefix: str) -> dict:
    """{"test_score", "num_test_clips"} of the logits averaged over `num_views` views; metrics saved as `prefix`."""
    prediction = trainer.predict(test_dataset, metric_key_prefix=prefix, num_views=num_views)
    trainer.log_metrics(prefix, prediction.metrics)
    trainer.save_metrics(prefix, prediction.metrics)
    scores = score_logits(prediction.predictions, prediction.label_ids, multi_label)
    label_ids = cast(np.ndarray, prediction.label_ids)  # one label array: the "labels" column
    return {"test_score": scores[metric_name(multi_label)], "num_test_clips": int(label_ids.shape[0])}


def check_run_options(data_args: FineTuningDataArguments, training_args: TrainingArguments) -> None:
    """Refuse option combinations that cannot mean what they say, before any data or model is loaded."""
    if data_args.all_folds and training_args.push_to_hub:
        raise ValueError("--push_to_hub publishes one model: pass --fold instead of --all_folds.")
    if training_args.push_to_hub and not RunSteps.from_training_arguments(training_args).train:
        raise ValueError("--push_to_hub publishes the fine-tuned model: it needs --do_train.")
    if data_args.train_on_validation and (training_args.eval_strategy != "no" or training_args.load_best_model_at_end):
        raise ValueError(
            "--train_on_validation trains on the validation split, so it cannot also choose or evaluate the model "
            "during training: pass --eval_strategy no (and no --load_best_model_at_end)."
        )
    resume = training_args.resume_from_checkpoint
    if data_args.all_folds and resume is not None and resume not in RESUME_LATEST:
        raise ValueError(
            "--resume_from_checkpoint names one run's checkpoint; with --all_folds pass --resume_from_checkpoint "
            "latest: every fold resumes from the newest complete checkpoint in its own fold_<k> folder."
        )


# Reporting and publishing
def summarize_runs(runs: list[dict], benchmark: LoadedTask) -> dict:
    """Mean, std and 95 % interval of the runs' test scores, with the benchmark, protocol and dataset revision."""
    scored = [run for run in runs if run["test_score"] is not None]
    summary: dict[str, Any] = summarize_scores([run["test_score"] for run in scored]) if scored else {}
    if len(scored) == 1 and not benchmark.spec.multi_label:
        num_test = scored[0]["num_test_clips"]
        summary["wilson95"] = wilson_interval(round(scored[0]["test_score"] * num_test), num_test)
    return {
        "benchmark": benchmark.spec.name,
        "dataset": benchmark.spec.dataset_id,
        "dataset_revision": getattr(benchmark, "revision", None),
        "metric": runs[0]["metric"],
        "protocol": benchmark.spec.protocol_description,
        "folds": {str(run["fold"]): run["test_score"] for run in scored},
        "num_test_clips": sum(run["num_test_clips"] for run in scored) if scored else None,
        "num_train_clips": [run["num_train_clips"] for run in runs],
        "skipped_clips": sum(run["skipped_clips"] for run in runs),
        **summary,
        **single_view_summary(scored),
    }


def single_view_summary(runs: list[dict]) -> dict:
    """{"shift_views": V, "single_view": mean, std and interval of the unshifted view's test scores} for runs
    scored on V > 1 averaged shifted views (`test_score_single_view`); {} otherwise."""
    averaged = [run for run in runs if run.get("test_score_single_view") is not None]
    scores = [run["test_score_single_view"] for run in averaged]
    return {"shift_views": averaged[0]["shift_views"], "single_view": summarize_scores(scores)} if averaged else {}


def summary_line(summary: dict, benchmark: LoadedTask) -> str:
    """One line for the log: `<benchmark>: <metric> = mean ± 95 % interval over n run(s)`, or for one run of a
    single-label task the 95 % Wilson interval of its test accuracy."""
    name = benchmark.spec.display_name
    if "mean" not in summary:
        return f"{name}: trained; the test split was not scored (no --do_eval)."
    if "wilson95" in summary:
        interval = "(95 % Wilson interval {:.4f}-{:.4f}".format(*summary["wilson95"])
    else:
        interval = f"± {summary['ci95']:.4f} (95 % CI over {summary['n']} run(s)"
    return f"{name}: {summary['metric']} = {summary['mean']:.4f} {interval}, {summary['num_test_clips']} test clips)"


def write_json(payload: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=float))
    logger.info(f"Wrote {path}")


def card_dataset(benchmark: LoadedTask, data_args: TaskDataArguments) -> TrainingDataset:
    """The training data to cite: the registry's Hub id even when a local copy with the same layout was loaded."""
    spec = benchmark.spec
    dataset_id = get_task(data_args.task).dataset_id if data_args.task is not None else spec.dataset_id
    data_license = data_args.dataset_license
    if data_license is None and dataset_id is None:
        data_license = spec.data_license
    return TrainingDataset(
        dataset_id=dataset_id,
        name=spec.display_name,
        config=spec.dataset_config,
        revision=getattr(benchmark, "revision", None),
        license=data_license,
    )


def card_hyperparameters(model_args, recipe: RecipeArguments, training_args: TrainingArguments) -> dict:
    """The hyperparameters the card lists: the Trainer's, the recipe's and what of the checkpoint is trained."""
    keys = ("learning_rate", "per_device_train_batch_size", "num_train_epochs", "max_steps", "warmup_steps")
    keys += ("weight_decay", "lr_scheduler_type", "label_smoothing_factor", "seed")
    values = {key: getattr(training_args, key) for key in keys}
    values.update({k: v for k, v in asdict(recipe).items() if k != "hub_model_name"})
    values.update(
        layer_decay=model_args.layer_decay,
        freeze_feature_encoder=model_args.freeze_feature_encoder,
        freeze_base_model=model_args.freeze_base_model,
    )
    for name in ("classifier_pooling", "classifier_shift_views"):  # when set; otherwise the checkpoint's
        if getattr(model_args, name) is not None:
            values[name] = getattr(model_args, name)
    return values


def finetuned_model_card(summary, benchmark, model_args, data_args, recipe, training_args):
    """The card of the fine-tuned model: measured results, per-fold scores, data (with revision and license)."""
    spec = benchmark.spec
    dataset = card_dataset(benchmark, data_args)
    name = recipe.hub_model_name or training_args.hub_model_id or Path(training_args.output_dir).name
    results = []
    if "mean" in summary:
        results.append(
            ReportedResult(
                dataset_id=dataset.hub_id or dataset.display_name,
                dataset_name=spec.display_name,
                dataset_config=spec.dataset_config,
                dataset_revision=dataset.revision,
                metric=summary["metric"],
                value=summary["mean"],
                split=f"{spec.num_folds}-fold CV" if len(summary["folds"]) > 1 else "test",
                protocol="fine-tuning",
                spread=summary["ci95"] if summary["n"] > 1 else None,
            )
        )
    folds = {k: v for k, v in summary["folds"].items() if k != "None"} or None
    protocol_notes = (
        f" (fold {data_args.fold} held out)" if data_args.fold is not None and not data_args.all_folds else ""
    )
    if "single_view" in summary:
        protocol_notes += (
            "; scored as the pipeline runs the model, on the mean logits of "
            f"{summary['shift_views']} time-shifted views (config.classifier_shift_views); the unshifted view alone "
            f"scores {summary['single_view']['mean']:.4f}"
        )
    return finetuned_card(
        model_name=name,
        base_model=model_args.model_name_or_path,
        training_data=dataset,
        label_names=benchmark.label_names,
        multi_label=spec.multi_label,
        results=results,
        training_args=card_hyperparameters(model_args, recipe, training_args),
        protocol=spec.protocol_description + protocol_notes,
        clip_seconds=spec.clip_seconds,
        fold_scores=folds,
        repo_id=training_args.hub_model_id,
        model_type=AutoConfig.from_pretrained(
            model_args.model_name_or_path, trust_remote_code=model_args.trust_remote_code
        ).model_type,
    )


def write_outputs(summary: dict, card, data_args: FineTuningDataArguments, training_args: TrainingArguments) -> None:
    """`results.json` (one run) or `all_results.json` (--all_folds) and the card `README.md` in --output_dir."""
    output_dir = _output_folder(training_args)
    write_json(summary, output_dir / ("all_results.json" if data_args.all_folds else "results.json"))
    card.save(str(output_dir / "README.md"))


def publish(run: dict, card) -> None:
    """Push the run's folder (model, feature extractor, code files, results, card) with the Trainer's Hub
    integration: `--push_to_hub`, `--hub_model_id`, `--hub_token`, `--hub_private_repo`."""
    trainer: RecipeTrainer = run["trainer"]
    trainer.model_card = card
    trainer.push_to_hub(commit_message=f"Fine-tuned AaSP on {run['benchmark']}")
    logger.info(f"Published {trainer.args.output_dir} to {trainer.hub_model_id}.")
