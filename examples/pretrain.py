#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Self-supervised AaSP pre-training with Accelerate (docs/method.md, section 5 "Pre-training").

    accelerate launch examples/pretrain.py --config configs/aasp_tiny.yaml --output_dir outputs/aasp-tiny
    accelerate launch --cpu --num_processes 2 examples/pretrain.py --config configs/aasp_tiny.yaml ...
    accelerate launch --multi_gpu --mixed_precision bf16 examples/pretrain.py --config configs/aasp_base.yaml ...
    ... --resume_from_checkpoint latest          # continue exactly where the last complete checkpoint left off

Options come from a YAML file (`--config`, one section per option group below) and command-line flags, which win.
The resolved options are written to <output_dir>/pretrain_config.yaml, next to <output_dir>/checkpoints/.
Metrics go to the Accelerate trackers (TensorBoard under <output_dir>/logs by default) and, one JSON object per
line, to <output_dir>/metrics.jsonl. The encoder, the feature extractor (with the corpus mean/std) and a model card
are exported to <output_dir>/final. See docs/pretraining.md (FSDP / DeepSpeed notes included).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import datasets
import torch
import transformers
import yaml
from accelerate import Accelerator, DistributedDataParallelKwargs
from accelerate.utils import ProjectConfiguration, set_seed
from huggingface_hub import HfApi
from tqdm.auto import tqdm
from transformers import get_cosine_schedule_with_warmup

from transformers_aasp import AaSPConfig, AaSPFeatureExtractor, AaSPForPreTraining
from transformers_aasp.data.normalization import compute_normalization_stats
from transformers_aasp.data.pretraining import (
    SOURCE_TYPES,
    ClipFeaturizer,
    build_pretraining_dataloader,
    iter_waveforms,
    load_audio_records,
    split_stream_by_process,
)
from transformers_aasp.modeling_aasp import PRETRAINING_LOSS_TERMS, PRETRAINING_MONITORING_TERMS
from transformers_aasp.reporting.model_card import pretrained_card
from transformers_aasp.training.distributed import use_cross_process_negatives
from transformers_aasp.training.optimization import mask_generator, weight_decay_groups


logger = transformers.utils.logging.get_logger("pretrain")

LOSS_METRICS = (*PRETRAINING_LOSS_TERMS, *PRETRAINING_MONITORING_TERMS)
CONFIG_FILE = "pretrain_config.yaml"
METRICS_FILE = "metrics.jsonl"
TRAINING_STATE_FILE = "training_state.json"  # written last into a checkpoint: marks it complete
FEATURE_EXTRACTOR_DIR = "feature_extractor"


# ----------------------------------------------------------------------------------------------------------------
# Options
# ----------------------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=str, help="YAML file of options (sections = the groups below).")

    data = parser.add_argument_group("data")
    data.add_argument(
        "--dataset", type=str, help="'embedded', a folder of audio files, an audiofolder or a dataset id."
    )
    data.add_argument(
        "--dataset_type",
        type=str,
        default="auto",
        choices=SOURCE_TYPES,
        help="How to read --dataset; 'auto': 'embedded', an existing folder, else a dataset id.",
    )
    data.add_argument("--dataset_config_name", type=str, default=None, help="Dataset configuration (e.g. 'balanced').")
    data.add_argument("--dataset_split", type=str, default="train", help="Split to pre-train on.")
    data.add_argument("--streaming", action="store_true", help="Stream the dataset instead of downloading it.")
    data.add_argument("--audio_column", type=str, default="audio", help="Column holding the audio.")
    data.add_argument(
        "--embedded_clips_per_class",
        type=int,
        default=None,
        help="--dataset embedded: clips per class of the corpus to build (default: the corpus's).",
    )
    data.add_argument("--crop_frames", type=int, default=608, help="Random crop length in frames (608 = 6.08 s).")
    data.add_argument("--min_clip_seconds", type=float, default=0.1, help="Shorter clips are skipped and counted.")
    data.add_argument("--shuffle_buffer_size", type=int, default=1000, help="Shuffle buffer of a streamed dataset.")
    data.add_argument("--num_workers", type=int, default=2, help="DataLoader workers (decoding + features).")
    data.add_argument(
        "--norm_stats_clips",
        type=int,
        default=1000,
        help="Clips used to compute the log-mel mean/std when --norm_mean/--norm_std are not given.",
    )
    data.add_argument("--norm_mean", type=float, default=None, help="Log-mel mean (skip computing the statistics).")
    data.add_argument("--norm_std", type=float, default=None, help="Log-mel std (skip computing the statistics).")

    model = parser.add_argument_group("model")
    model.add_argument(
        "--model_config",
        type=str,
        default="tiny",
        help="'tiny' (AaSPConfig.tiny()), 'base' (ViT-B) or a config.json / checkpoint folder.",
    )
    model.add_argument(
        "--model_overrides",
        type=json.loads,
        default={},
        help="AaSPConfig fields to override, as JSON (e.g. '{\"num_mask_clones\": 16}').",
    )
    model.add_argument(
        "--init_from",
        type=str,
        default=None,
        help="Start from this AaSPForPreTraining or AaSPModel checkpoint (teacher := student "
        "when the checkpoint has no teacher).",
    )
    model.add_argument("--gradient_checkpointing", action="store_true", help="Recompute activations in backward.")
    model.add_argument(
        "--export_weights",
        type=str,
        default="student",
        choices=("student", "teacher"),
        help="Encoder weights written to <output_dir>/final.",
    )

    optim = parser.add_argument_group("optimization")
    optim.add_argument("--per_device_batch_size", type=int, default=12, help="Clips per process per micro-batch.")
    optim.add_argument("--gradient_accumulation_steps", type=int, default=1, help="Micro-batches per update.")
    optim.add_argument("--learning_rate", type=float, default=5e-4, help="Peak learning rate.")
    optim.add_argument(
        "--weight_decay",
        type=float,
        default=0.05,
        help="AdamW weight decay (never applied to norms, biases, tokens, positions).",
    )
    optim.add_argument("--adam_beta1", type=float, default=0.9, help="AdamW beta1.")
    optim.add_argument("--adam_beta2", type=float, default=0.95, help="AdamW beta2.")
    optim.add_argument("--adam_epsilon", type=float, default=1e-8, help="AdamW epsilon.")
    optim.add_argument("--max_steps", type=int, default=None, help="Optimizer steps to train for.")
    optim.add_argument("--warmup_steps", type=int, default=0, help="Linear warm-up steps before the cosine decay.")
    optim.add_argument("--max_grad_norm", type=float, default=4.0, help="Gradient clipping norm (<= 0: no clipping).")
    optim.add_argument(
        "--mixed_precision",
        type=str,
        default=None,
        choices=("no", "fp16", "bf16"),
        help="Mixed precision (default: what `accelerate launch`/config says).",
    )
    optim.add_argument("--seed", type=int, default=0, help="Seed of model init, masks and data order.")
    optim.add_argument(
        "--max_consecutive_bad_steps",
        type=int,
        default=10,
        help="Stop after this many consecutive steps with a non-finite loss or gradient.",
    )
    optim.add_argument("--find_unused_parameters", action="store_true", help="DDP find_unused_parameters.")

    ckpt = parser.add_argument_group("checkpointing")
    ckpt.add_argument("--output_dir", type=str, default=None, help="Where checkpoints, logs and exports go.")
    ckpt.add_argument(
        "--overwrite_output_dir",
        action="store_true",
        help="Delete earlier checkpoints/metrics in --output_dir instead of refusing to start.",
    )
    ckpt.add_argument("--checkpointing_steps", type=int, default=1000, help="accelerator.save_state every N steps.")
    ckpt.add_argument("--checkpoints_total_limit", type=int, default=3, help="Keep only the last K checkpoints.")
    ckpt.add_argument(
        "--resume_from_checkpoint",
        type=str,
        default=None,
        help="'latest' (newest complete checkpoint in --output_dir; starts fresh if none) or a path.",
    )

    log = parser.add_argument_group("logging")
    log.add_argument("--logging_steps", type=int, default=10, help="Log metrics every N optimizer steps.")
    log.add_argument(
        "--report_to",
        type=str,
        default="tensorboard",
        help="Accelerate tracker(s): 'tensorboard', 'wandb', 'all' or 'none' (metrics.jsonl always).",
    )
    log.add_argument("--tracker_project_name", type=str, default="aasp_pretraining", help="Tracker project name.")
    log.add_argument(
        "--collapse_threshold",
        type=float,
        default=1e-4,
        help="Warn when the teacher target variance falls below this (representation collapse).",
    )

    hub = parser.add_argument_group("hub")
    hub.add_argument("--push_to_hub", action="store_true", help="Upload <output_dir>/final to the Hub at the end.")
    hub.add_argument("--hub_model_id", type=str, default=None, help="Repository id, e.g. 'user/aasp-base'.")
    hub.add_argument("--hub_private_repo", action="store_true", help="Create the repository as private.")
    hub.add_argument("--model_name", type=str, default=None, help="Name shown in the model card.")

    debug = parser.add_argument_group("debug")
    debug.add_argument(
        "--debug_nan_steps",
        type=int,
        nargs="*",
        default=[],
        help="Testing only: replace the loss by NaN at these optimizer steps (1-based).",
    )
    return parser


def option_groups(parser: argparse.ArgumentParser) -> dict[str, list[argparse.Action]]:
    """Option actions per group title (the YAML section names)."""
    return {
        group.title: [action for action in group._group_actions if action.dest != "help"]
        for group in parser._action_groups
        if group.title in ("data", "model", "optimization", "checkpointing", "logging", "hub", "debug")
    }


def read_yaml_options(path: str, parser: argparse.ArgumentParser) -> dict:
    """Flatten a sectioned (or flat) YAML file into argparse defaults, converting and checking every value."""
    config_path = Path(path)
    if not config_path.is_file():
        raise FileNotFoundError(f"--config {path!r} does not exist.")
    content = yaml.safe_load(config_path.read_text()) or {}
    if not isinstance(content, dict):
        raise ValueError(f"{path}: expected a mapping of sections, got {type(content).__name__}.")
    actions = {action.dest: action for actions in option_groups(parser).values() for action in actions}
    values = {}
    for key, value in content.items():
        section, entries = (key, value) if key in option_groups(parser) else (None, {key: value})
        if not isinstance(entries, dict):
            raise ValueError(f"{path}: section {section!r} must be a mapping.")
        for name, entry in entries.items():
            if name not in actions:
                where = f" (section {section!r})" if section else ""
                raise ValueError(f"{path}: unknown option {name!r}{where}; see `pretrain.py --help`.")
            values[name] = coerce_option(actions[name], entry, path)
    return values


def coerce_option(action: argparse.Action, value, path: str):
    """Apply the flag's type (YAML reads '5e-4' as a string) and check its choices."""
    if isinstance(value, str) and action.type is not None and action.type is not str:
        try:
            value = action.type(value)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}: option {action.dest!r}: cannot convert {value!r}: {error}") from None
    if action.choices is not None and value is not None and value not in action.choices:
        raise ValueError(f"{path}: option {action.dest!r} must be one of {list(action.choices)}, got {value!r}.")
    return value


def parse_options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config:
        parser.set_defaults(**read_yaml_options(args.config, parser))
        args = parser.parse_args(argv)
    validate_options(args)
    return args


def validate_options(args: argparse.Namespace) -> None:
    missing = [name for name in ("dataset", "output_dir", "max_steps") if getattr(args, name) is None]
    if missing:
        raise ValueError(f"Missing required option(s): {', '.join('--' + name for name in missing)}.")
    positive = (
        "per_device_batch_size",
        "gradient_accumulation_steps",
        "max_steps",
        "crop_frames",
        "logging_steps",
        "checkpointing_steps",
        "max_consecutive_bad_steps",
        "norm_stats_clips",
    )
    for name in positive:
        if getattr(args, name) <= 0:
            raise ValueError(f"--{name} must be positive, got {getattr(args, name)}.")
    if args.warmup_steps < 0 or args.warmup_steps > args.max_steps:
        raise ValueError(f"--warmup_steps must lie in [0, max_steps={args.max_steps}], got {args.warmup_steps}.")
    if (args.norm_mean is None) != (args.norm_std is None):
        raise ValueError("Give both --norm_mean and --norm_std, or neither (then they are computed).")
    if args.push_to_hub and not args.hub_model_id:
        raise ValueError("--push_to_hub needs --hub_model_id (e.g. 'user/aasp-tiny').")
    if not isinstance(args.model_overrides, dict):
        raise ValueError(f"--model_overrides must be a mapping, got {args.model_overrides!r}.")


def resolved_options(args: argparse.Namespace) -> dict:
    """Options grouped by section, in the layout `--config` reads back."""
    parser = build_parser()
    return {
        section: {action.dest: getattr(args, action.dest) for action in actions}
        for section, actions in option_groups(parser).items()
    }


# ----------------------------------------------------------------------------------------------------------------
# Set-up
# ----------------------------------------------------------------------------------------------------------------
class LaunchError(RuntimeError):
    """The processes that were started are not the ones that were asked for."""


def check_launch(accelerator: Accelerator, environ=None) -> None:
    """Fail loudly when `accelerate launch --cpu --num_processes N` (N > 1) silently started one process.

    Accelerate's `--cpu` launcher only starts several processes through `mpirun` (`--mpirun_hostfile`); otherwise it
    sets MASTER_ADDR/MASTER_PORT for N processes but runs one. Several CPU processes (DDP over gloo) are started by
    `ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes N ...` (torchrun).
    """
    environ = os.environ if environ is None else environ
    asked_for_several = "MASTER_PORT" in environ and not any(
        key in environ for key in ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
    )
    if (
        asked_for_several
        and accelerator.num_processes == 1
        and environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
    ):
        raise LaunchError(
            "`accelerate launch --cpu --num_processes N` started a single process: without --mpirun_hostfile, "
            "Accelerate's CPU launcher does not spawn N processes. For multi-process CPU training run "
            "`ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes N examples/pretrain.py ...`."
        )


def setup_logging(accelerator: Accelerator) -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    if accelerator.is_local_main_process:
        transformers.utils.logging.set_verbosity_warning()
        datasets.utils.logging.set_verbosity_warning()
    else:
        transformers.utils.logging.set_verbosity_error()
        datasets.utils.logging.set_verbosity_error()


def build_accelerator(args: argparse.Namespace) -> Accelerator:
    project = ProjectConfiguration(
        project_dir=args.output_dir,
        logging_dir=str(Path(args.output_dir) / "logs"),
        automatic_checkpoint_naming=True,
        total_limit=args.checkpoints_total_limit,
    )
    report_to = None if args.report_to == "none" else args.report_to.split(",")
    return Accelerator(
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        mixed_precision=args.mixed_precision,
        log_with=report_to,
        project_config=project,
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=args.find_unused_parameters)],
    )


def prepare_output_dir(args: argparse.Namespace, accelerator: Accelerator) -> None:
    """Refuse to mix two runs in one folder unless resuming or told to overwrite."""
    output_dir = Path(args.output_dir)
    checkpoints = output_dir / "checkpoints"
    has_previous_run = checkpoints.is_dir() and any(checkpoints.iterdir())
    if accelerator.is_main_process and has_previous_run and not args.resume_from_checkpoint:
        if not args.overwrite_output_dir:
            raise FileExistsError(
                f"{output_dir} already holds checkpoints; pass --resume_from_checkpoint latest to continue or "
                "--overwrite_output_dir to start over."
            )
        for name in ("checkpoints", "logs", "final", FEATURE_EXTRACTOR_DIR):
            shutil.rmtree(output_dir / name, ignore_errors=True)
        (output_dir / METRICS_FILE).unlink(missing_ok=True)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / CONFIG_FILE).write_text(yaml.safe_dump(resolved_options(args), sort_keys=False))
    accelerator.wait_for_everyone()


def build_model(args: argparse.Namespace) -> AaSPForPreTraining:
    if args.init_from:
        model, info = AaSPForPreTraining.from_pretrained(
            args.init_from, output_loading_info=True, **args.model_overrides
        )
        if any(key.startswith("teacher.") for key in info.get("missing_keys", [])):
            logger.info(f"{args.init_from} has no teacher weights: the teacher starts as a copy of the student.")
            model.reset_teacher()
    else:
        model = AaSPForPreTraining(model_config(args.model_config, args.model_overrides))
    if args.gradient_checkpointing:
        enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
        enable()
    return model


def check_crop_fits_patches(crop_frames: int, config: AaSPConfig) -> None:
    """Crops must tile whole time patches (a partial last patch would be mostly padding)."""
    if crop_frames % config.time_patch_size != 0:
        raise ValueError(
            f"--crop_frames ({crop_frames}) must be a multiple of the model's time_patch_size "
            f"({config.time_patch_size}), e.g. {max(1, round(crop_frames / config.time_patch_size)) * config.time_patch_size}."
        )


def model_config(name: str, overrides: dict) -> AaSPConfig:
    if name == "tiny":
        return AaSPConfig.tiny(**overrides)
    if name == "base":
        return AaSPConfig(**overrides)
    if Path(name).exists():
        return AaSPConfig.from_pretrained(name, **overrides)
    raise ValueError(f"--model_config must be 'tiny', 'base' or an existing config path, got {name!r}.")


def build_optimizer(model: torch.nn.Module, args: argparse.Namespace) -> torch.optim.AdamW:
    """AdamW without weight decay on norms, biases, tokens, positions, fixed SBLU parameters and gates."""
    groups = weight_decay_groups(model, args.weight_decay)  # the EMA teacher has no trainable parameter
    return torch.optim.AdamW(
        groups, lr=args.learning_rate, betas=(args.adam_beta1, args.adam_beta2), eps=args.adam_epsilon
    )


def build_feature_extractor(args: argparse.Namespace, records, accelerator: Accelerator) -> AaSPFeatureExtractor:
    """The feature extractor with the corpus log-mel mean/std: given, reused from an earlier run, or computed once
    (on the main process, over the first --norm_stats_clips usable clips) and saved in <output_dir>."""
    saved = Path(args.output_dir) / FEATURE_EXTRACTOR_DIR
    if not saved.is_dir():
        if accelerator.is_main_process:
            feature_extractor = AaSPFeatureExtractor()
            if args.norm_mean is not None:
                mean, std = args.norm_mean, args.norm_std
            else:
                featurizer = ClipFeaturizer(feature_extractor, args.crop_frames, args.min_clip_seconds)
                clips = iter_waveforms(records, featurizer, args.norm_stats_clips, args.audio_column)
                mean, std = compute_normalization_stats(
                    clips,
                    feature_extractor,
                    max_clips=args.norm_stats_clips,
                    sampling_rate=feature_extractor.sampling_rate,
                )
            feature_extractor.set_normalization(float(mean), float(std))
            feature_extractor.save_pretrained(saved)
            logger.info(f"Log-mel normalisation: mean={feature_extractor.mean:.4f}, std={feature_extractor.std:.4f}")
        accelerator.wait_for_everyone()
    return AaSPFeatureExtractor.from_pretrained(saved)


# ----------------------------------------------------------------------------------------------------------------
# Progress, checkpoints, metrics
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class TrainingProgress:
    """Counters saved with every checkpoint (identical on all processes)."""

    step: int = 0  # optimizer steps attempted (the data position: step * accumulation micro-batches)
    updates: int = 0  # optimizer steps applied (drives the EMA schedule)
    skipped_clips: int = 0  # unusable clips met so far, all processes
    nonfinite_steps: int = 0  # steps skipped because of a non-finite loss or gradient
    consecutive_bad_steps: int = 0

    def save(self, directory: Path) -> None:
        (directory / TRAINING_STATE_FILE).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, directory: Path) -> TrainingProgress:
        return cls(**json.loads((directory / TRAINING_STATE_FILE).read_text()))


def checkpoint_number(path: Path) -> int:
    match = re.fullmatch(r"checkpoint_(\d+)", path.name)
    return int(match.group(1)) if match else -1


def find_checkpoint(spec: str | None, output_dir: str) -> Path | None:
    """`'latest'`: the newest complete checkpoint (None when there is none); otherwise the given folder."""
    if not spec:
        return None
    if spec == "latest":
        folder = Path(output_dir) / "checkpoints"
        complete = [path for path in folder.glob("checkpoint_*") if (path / TRAINING_STATE_FILE).is_file()]
        if not complete:
            logger.warning(f"--resume_from_checkpoint latest: no complete checkpoint in {folder}; starting fresh.")
            return None
        return max(complete, key=checkpoint_number)
    path = Path(spec)
    if not (path / TRAINING_STATE_FILE).is_file():
        raise FileNotFoundError(f"{spec} is not a complete checkpoint (no {TRAINING_STATE_FILE}).")
    return path


def resume(accelerator: Accelerator, checkpoint: Path, output_dir: str) -> TrainingProgress:
    accelerator.load_state(str(checkpoint))
    progress = TrainingProgress.load(checkpoint)
    # later saves must not collide with any folder that exists (an incomplete one included)
    existing = [checkpoint_number(path) for path in (Path(output_dir) / "checkpoints").glob("checkpoint_*")]
    accelerator.project_configuration.iteration = max(existing, default=-1) + 1
    if accelerator.is_main_process:
        truncate_metrics(Path(output_dir) / METRICS_FILE, progress.step)
    accelerator.wait_for_everyone()
    logger.info(f"Resumed from {checkpoint} at step {progress.step}.")
    return progress


def truncate_metrics(path: Path, step: int) -> None:
    """Drop records logged after `step` by the interrupted run (they are logged again)."""
    if not path.is_file():
        return
    kept = [line for line in path.read_text().splitlines() if line and json.loads(line).get("step", 0) <= step]
    path.write_text("".join(line + "\n" for line in kept))


def assert_finite_parameters(model: torch.nn.Module, where: str) -> None:
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise RuntimeError(f"Refusing to write {where}: parameter {name!r} is not finite.")


def save_checkpoint(accelerator: Accelerator, model, progress: TrainingProgress) -> Path:
    assert_finite_parameters(accelerator.unwrap_model(model), "a checkpoint")
    location = Path(accelerator.save_state())
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        progress.save(location)
    accelerator.wait_for_everyone()
    return location


class MetricsWriter:
    """Accelerate trackers plus one JSON line per record in <output_dir>/metrics.jsonl (main process only)."""

    def __init__(self, accelerator: Accelerator, output_dir: str):
        self.accelerator = accelerator
        self.path = Path(output_dir) / METRICS_FILE

    def log(self, record: dict) -> None:
        if not self.accelerator.is_main_process:
            return
        with self.path.open("a") as stream:
            stream.write(json.dumps(record) + "\n")
        if "event" not in record:
            scalars = {f"train/{key}": value for key, value in record.items() if key != "step"}
            self.accelerator.log(scalars, step=record["step"])


# ----------------------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------------------
class TrainingDiverged(RuntimeError):
    """Too many consecutive non-finite steps."""


@dataclass
class StepOutcome:
    applied: bool
    nonfinite: bool
    grad_norm: float
    decay: float | None


def forward_backward(accelerator, model, batch, masks: torch.Generator, inject_nan: bool) -> tuple[dict, bool]:
    """One micro-batch: returns the detached loss terms and whether the loss was non-finite on this process."""
    outputs = model(input_values=batch["input_values"], attention_mask=batch["attention_mask"], mask_generator=masks)
    loss = outputs.loss
    if inject_nan:
        loss = loss * float("nan")
    accelerator.backward(loss)
    terms = {name: getattr(outputs, name).detach().float() for name in LOSS_METRICS[1:]}
    terms["loss"] = loss.detach().float()
    return terms, not bool(torch.isfinite(loss))


def apply_update(accelerator, model, optimizer, scheduler, progress, args, any_nonfinite_loss: bool) -> StepOutcome:
    """Clip and apply the accumulated gradient, unless the loss or gradient is non-finite on any process."""
    max_norm = args.max_grad_norm if args.max_grad_norm > 0 else float("inf")
    grad_norm = float(accelerator.clip_grad_norm_(model.parameters(), max_norm))
    # fp16 overflow is the GradScaler's business (it skips the step and lowers the scale), not an error
    scaler_handles_overflow = accelerator.scaler is not None and not any_nonfinite_loss
    if any_nonfinite_loss or (not math.isfinite(grad_norm) and not scaler_handles_overflow):
        optimizer.zero_grad(set_to_none=True)
        return StepOutcome(applied=False, nonfinite=True, grad_norm=grad_norm, decay=None)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    if accelerator.optimizer_step_was_skipped:
        return StepOutcome(applied=False, nonfinite=False, grad_norm=grad_norm, decay=None)
    scheduler.step()
    decay = accelerator.unwrap_model(model).update_teacher(progress.updates)
    progress.updates += 1
    return StepOutcome(applied=True, nonfinite=False, grad_norm=grad_norm, decay=float(decay))


def track_nonfinite(progress: TrainingProgress, outcome: StepOutcome, args, writer: MetricsWriter) -> None:
    """Report a skipped non-finite step and stop after too many in a row."""
    if not outcome.nonfinite:
        progress.consecutive_bad_steps = 0
        return
    progress.nonfinite_steps += 1
    progress.consecutive_bad_steps += 1
    logger.error(
        f"Non-finite loss or gradient at step {progress.step} (grad norm {outcome.grad_norm}); the update was "
        f"skipped ({progress.consecutive_bad_steps}/{args.max_consecutive_bad_steps} in a row)."
    )
    writer.log({"event": "nonfinite_step", "step": progress.step, "grad_norm": str(outcome.grad_norm)})
    if progress.consecutive_bad_steps >= args.max_consecutive_bad_steps:
        first = progress.step - progress.consecutive_bad_steps + 1
        raise TrainingDiverged(
            f"Stopping: {progress.consecutive_bad_steps} consecutive steps ({first} to {progress.step}) had a "
            "non-finite loss or gradient. Checkpoints hold the last finite weights; lower --learning_rate, check the "
            "data or use bf16 instead of fp16."
        )


def reduced_mean(accelerator: Accelerator, terms: dict[str, torch.Tensor]) -> dict[str, float]:
    stacked = torch.stack([terms[name] for name in LOSS_METRICS]).to(accelerator.device)
    values = accelerator.reduce(stacked, reduction="mean").tolist()
    return dict(zip(LOSS_METRICS, values))


def train(args, accelerator, model, optimizer, scheduler, batches, progress, writer) -> dict:
    """Run optimizer steps until --max_steps; returns the last logged metrics."""
    clips_per_step = args.per_device_batch_size * args.gradient_accumulation_steps * accelerator.num_processes
    bar = tqdm(
        total=args.max_steps,
        initial=progress.step,
        desc="pre-training",
        dynamic_ncols=True,
        disable=not accelerator.is_local_main_process,
    )
    nan_steps = set(args.debug_nan_steps or [])
    last_metrics, window_start, window_steps = {}, time.perf_counter(), 0
    terms_sum, micro, local_nonfinite, local_skipped = None, 0, False, 0
    model.train()
    for batch in batches:
        local_skipped += int(batch.pop("num_skipped"))
        batch = {key: value.to(accelerator.device) for key, value in batch.items()}
        with accelerator.accumulate(model):
            masks = mask_generator(args.seed, accelerator.process_index, progress.step, micro)
            terms, nonfinite = forward_backward(
                accelerator, model, batch, masks, inject_nan=progress.step + 1 in nan_steps
            )
            terms_sum = terms if terms_sum is None else {k: terms_sum[k] + terms[k] for k in terms}
            micro += 1
            local_nonfinite |= nonfinite
            if not accelerator.sync_gradients:
                continue
            flags = accelerator.reduce(
                torch.tensor([float(local_nonfinite), float(local_skipped)], device=accelerator.device),
                reduction="sum",
            )
            outcome = apply_update(accelerator, model, optimizer, scheduler, progress, args, bool(flags[0] > 0))
        progress.step += 1
        progress.skipped_clips += int(flags[1])
        window_steps += 1
        bar.update(1)
        track_nonfinite(progress, outcome, args, writer)
        if progress.step % args.logging_steps == 0 or progress.step == args.max_steps:
            elapsed = time.perf_counter() - window_start
            last_metrics = step_metrics(
                accelerator,
                args,
                progress,
                outcome,
                scheduler,
                {k: v / micro for k, v in terms_sum.items()},
                clips_per_step * window_steps / elapsed,
            )
            writer.log(last_metrics)
            bar.set_postfix(loss=last_metrics["loss"], acc=last_metrics["contrastive_accuracy"])
            window_start, window_steps = time.perf_counter(), 0
        if progress.step % args.checkpointing_steps == 0 or progress.step == args.max_steps:
            location = save_checkpoint(accelerator, model, progress)
            writer.log({"event": "checkpoint", "step": progress.step, "path": str(location)})
        terms_sum, micro, local_nonfinite, local_skipped = None, 0, False, 0
        if progress.step >= args.max_steps:
            break
    bar.close()
    return last_metrics


def step_metrics(accelerator, args, progress, outcome, scheduler, terms, clips_per_second) -> dict:
    metrics = {"step": progress.step, **reduced_mean(accelerator, terms)}
    metrics.update(
        lr=scheduler.get_last_lr()[0],
        ema_decay=outcome.decay if outcome.decay is not None else float("nan"),
        grad_norm=outcome.grad_norm,
        clips_per_second=clips_per_second,
        skipped_clips=progress.skipped_clips,
        nonfinite_steps=progress.nonfinite_steps,
        updates=progress.updates,
    )
    if math.isfinite(metrics["target_variance"]) and metrics["target_variance"] < args.collapse_threshold:
        logger.warning(
            f"Step {progress.step}: teacher target variance {metrics['target_variance']:.2e} is below "
            f"{args.collapse_threshold:g}; the representation may be collapsing."
        )
    # JSON has no NaN/Inf: keep them readable as strings
    return {
        key: value if not isinstance(value, float) or math.isfinite(value) else str(value)
        for key, value in metrics.items()
    }


# ----------------------------------------------------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------------------------------------------------
def export_final(args, accelerator, model, feature_extractor, metrics: dict) -> Path | None:
    """Encoder + feature extractor + model card (+ resolved options) in <output_dir>/final; main process only."""
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        return None
    final = Path(args.output_dir) / "final"
    unwrapped = accelerator.unwrap_model(model)
    assert_finite_parameters(unwrapped, "the final export")
    unwrapped.export_encoder(str(final), weights=args.export_weights)
    feature_extractor.save_pretrained(str(final))
    (final / CONFIG_FILE).write_text(yaml.safe_dump(resolved_options(args), sort_keys=False))
    card = model_card(args, metrics)
    card.save(str(final / "README.md"))
    logger.info(f"Exported the {args.export_weights} encoder to {final}.")
    return final


def model_card(args, metrics: dict):
    name = args.model_name or args.hub_model_id or Path(args.output_dir).name
    training_args = {
        key: value
        for section in resolved_options(args).values()
        for key, value in section.items()
        if key not in ("config", "debug_nan_steps", "output_dir") and value not in (None, [], {})
    }
    final_metrics = {key: value for key, value in metrics.items() if key in (*LOSS_METRICS, "step", "skipped_clips")}
    return pretrained_card(
        model_name=name,
        pretraining_datasets=[dataset_description(args)],
        training_args=training_args,
        metrics=final_metrics or None,
        repo_id=args.hub_model_id,
    )


def dataset_description(args) -> str:
    if args.dataset == "embedded":
        return "the transformers_aasp embedded corpus"
    if Path(args.dataset).exists():
        return f"a local corpus ({Path(args.dataset).name})"
    return args.dataset if not args.dataset_config_name else f"{args.dataset} ({args.dataset_config_name})"


def push_to_hub(args, folder: Path) -> None:
    api = HfApi()
    repo = api.create_repo(args.hub_model_id, private=args.hub_private_repo, exist_ok=True)
    api.upload_folder(
        repo_id=args.hub_model_id,
        folder_path=str(folder),
        commit_message=f"AaSP pre-training ({args.max_steps} steps)",
    )
    logger.info(f"Pushed {folder} to {getattr(repo, 'repo_id', args.hub_model_id)}.")


# ----------------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    args = parse_options(argv)
    accelerator = build_accelerator(args)
    check_launch(accelerator)
    setup_logging(accelerator)
    prepare_output_dir(args, accelerator)
    set_seed(args.seed)

    records = load_audio_records(
        args.dataset,
        source_type=args.dataset_type,
        config_name=args.dataset_config_name,
        split=args.dataset_split,
        streaming=args.streaming,
        audio_column=args.audio_column,
        embedded_clips_per_class=args.embedded_clips_per_class,
    )
    feature_extractor = build_feature_extractor(args, records, accelerator)

    model = build_model(args)
    check_crop_fits_patches(args.crop_frames, model.config)
    optimizer = build_optimizer(model, args)
    scheduler = get_cosine_schedule_with_warmup(optimizer, args.warmup_steps, args.max_steps)
    use_cross_process_negatives(model)
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_for_checkpointing(scheduler)

    progress = TrainingProgress()
    checkpoint = find_checkpoint(args.resume_from_checkpoint, args.output_dir)
    if checkpoint is not None:
        progress = resume(accelerator, checkpoint, args.output_dir)

    batches = build_pretraining_dataloader(
        split_stream_by_process(records, accelerator.process_index, accelerator.num_processes),
        feature_extractor,
        batch_size=args.per_device_batch_size,
        crop_frames=args.crop_frames,
        seed=args.seed,
        rank=accelerator.process_index,
        world_size=accelerator.num_processes,
        start_batch=progress.step * args.gradient_accumulation_steps,
        num_workers=args.num_workers,
        audio_column=args.audio_column,
        min_clip_seconds=args.min_clip_seconds,
        shuffle_buffer_size=args.shuffle_buffer_size,
    )

    writer = MetricsWriter(accelerator, args.output_dir)
    writer.log(
        {
            "event": "start",
            "step": progress.step,
            "num_processes": accelerator.num_processes,
            "resumed_from": str(checkpoint) if checkpoint else None,
        }
    )
    accelerator.init_trackers(args.tracker_project_name, config=tracker_config(args))
    metrics = train(args, accelerator, model, optimizer, scheduler, batches, progress, writer)
    logger.info(f"Finished {progress.step} steps; {progress.skipped_clips} unusable clips were skipped.")

    final = export_final(args, accelerator, model, feature_extractor, metrics)
    if args.push_to_hub and final is not None:
        push_to_hub(args, final)
    accelerator.end_training()


def tracker_config(args) -> dict:
    """Scalar options only (TensorBoard hparams accept int, float, str and bool)."""
    flat = {key: value for section in resolved_options(args).values() for key, value in section.items()}
    return {
        key: value if isinstance(value, (int, float, str, bool)) else json.dumps(value)
        for key, value in flat.items()
        if value is not None
    }


if __name__ == "__main__":
    try:
        main()
    except (ValueError, FileNotFoundError, FileExistsError, LaunchError, TrainingDiverged) as error:
        logger.error(str(error))
        sys.exit(1)
