# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Self-supervised AaSP pre-training with Accelerate (docs/pretraining.md); `examples/pretrain.py` is its command line.

Options (`PretrainingOptions`, one dataclass per YAML section), set-up steps (`build_*`) and the loop (`Pretrainer`:
`resume`, `train`, `export`). Checkpoints are written and read by `checkpointing.CheckpointStore`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar, cast, get_type_hints

import numpy as np
import torch
import yaml
from accelerate import Accelerator, DataLoaderConfiguration, DistributedDataParallelKwargs
from accelerate.tracking import GeneralTracker
from accelerate.utils import DDPCommunicationHookType, DistributedType, LoggerType, ProjectConfiguration, set_seed
from huggingface_hub import HfApi
from tqdm.auto import tqdm
from transformers import get_cosine_schedule_with_warmup
from transformers.utils import logging

from ..configuration_aasp import PRETRAINING_EXPORTS, AaSPConfig
from ..data.normalization import compute_normalization_stats
from ..data.pretraining import (
    ClipFeaturizer,
    build_pretraining_dataloader,
    features_from_waveform_batch,
    iter_waveforms,
    num_records,
    split_stream_by_process,
)
from ..data.sources import SOURCE_TYPES, code_sources, load_audio_records
from ..feature_extraction_aasp import AaSPFeatureExtractor
from ..modeling_aasp import PRETRAINING_LOSS_TERMS, PRETRAINING_MONITORING_TERMS, AaSPForPreTraining
from ..reporting.model_card import TrainingDataset, pretrained_card
from .arguments import check_checkpoint_path, option, parse_arguments, setup_logging
from .checkpointing import CheckpointError, CheckpointStore, TrainingProgress
from .distributed import use_cross_process_negatives
from .ema import TeacherEMA
from .locking import hold_output_dir
from .optimization import weight_decay_groups


logger = logging.get_logger(__name__)

LOSS_METRICS = (*PRETRAINING_LOSS_TERMS, *PRETRAINING_MONITORING_TERMS)
CONFIG_FILE = "pretrain_config.yaml"
METRICS_FILE = "metrics.jsonl"
FEATURE_EXTRACTOR_DIR = "feature_extractor"
FEATURES_ON_DEVICE_CHOICES = ("auto", "true", "false")
MIXED_PRECISION_CHOICES = ("no", "fp16", "bf16")
LR_SCALING_RULES = {"none": lambda ratio: 1.0, "linear": lambda ratio: ratio, "sqrt": math.sqrt}
NEGATIVES_CHOICES = ("process", "all_processes")
COMM_HOOKS = {
    "bf16": DDPCommunicationHookType.BF16,
    "fp16": DDPCommunicationHookType.FP16,
    "none": DDPCommunicationHookType.NO,
}


# Options: one dataclass per section of the YAML file (the headings only group options)
@dataclass
class DataOptions:
    dataset: str | None = option(None, "'embedded', a folder of audio files, an audiofolder or a dataset id.")
    dataset_type: str = option("auto", "How to read --dataset ('auto': detect it).", choices=SOURCE_TYPES)
    dataset_config_name: str | None = option(None, "Dataset configuration.")
    dataset_split: str = option("train", "Split to pre-train on.")
    streaming: bool = option(False, "Stream the dataset instead of downloading it.")
    audio_column: str = option("audio", "Column holding the audio.")
    embedded_clips_per_class: int | None = option(None, "--dataset embedded: clips per class of the corpus to build.")
    embedded_corpus_seed: int = option(0, "--dataset embedded: the seed of the corpus build (built if needed).")
    crop_frames: int = option(608, "Random crop length in frames (608 = 6.08 s).")
    min_clip_seconds: float = option(0.1, "Shorter clips are skipped and counted.")
    shuffle_buffer_size: int = option(1000, "Shuffle buffer of a streamed dataset.")
    num_workers: int = option(2, "DataLoader workers (decoding + features).")
    features_on_device: str = option(
        "auto", "Log-mel on the accelerator ('auto': on a GPU).", choices=FEATURES_ON_DEVICE_CHOICES
    )
    norm_stats_clips: int = option(1000, "Clips for the log-mel mean/std when --norm_mean/--norm_std are not given.")
    norm_mean: float | None = option(None, "Log-mel mean (skip computing the statistics).")
    norm_std: float | None = option(None, "Log-mel std (skip computing the statistics).")


@dataclass
class ModelOptions:
    model_config: str = option(
        "tiny",
        "'tiny' (AaSPConfig.tiny()), 'base' (ViT-B), 'paper' (AaSPConfig.paper(): ViT-B with the paper's "
        "aliasing features) or a config/checkpoint folder.",
    )
    # a JSON string on the command line, a mapping in the YAML file; always a dict after parsing
    model_overrides: str = option("{}", "AaSPConfig fields to override, as JSON (e.g. '{\"num_mask_clones\": 16}').")
    init_from: str | None = option(None, "Start from this AaSPForPreTraining or AaSPModel checkpoint.")
    gradient_checkpointing: bool = option(False, "Recompute activations in backward.")
    torch_compile: bool = option(False, "Compile the model (torch.compile, inductor, through Accelerate).")
    export_weights: str = option("student", "Encoder written to <output_dir>/final.", choices=PRETRAINING_EXPORTS)

    def __post_init__(self):
        if isinstance(self.model_overrides, str):
            try:
                self.model_overrides = json.loads(self.model_overrides)
            except json.JSONDecodeError as error:
                raise ValueError(f"--model_overrides is not valid JSON: {error}") from None
        if not isinstance(self.model_overrides, dict):
            raise ValueError(f"--model_overrides must be a mapping, got {self.model_overrides!r}.")


@dataclass
class OptimizationOptions:
    per_device_batch_size: int = option(12, "Clips per process per micro-batch.")
    gradient_accumulation_steps: int = option(1, "Micro-batches per update.")
    learning_rate: float = option(5e-4, "Peak learning rate at --lr_reference_batch clips per step.")
    lr_scaling: str = option(
        "none", "Peak lr x (G / reference) or its sqrt, G: clips per step.", choices=tuple(LR_SCALING_RULES)
    )
    lr_reference_batch: int = option(48, "The global batch at which --learning_rate is the peak (see --lr_scaling).")
    weight_decay: float = option(0.05, "AdamW weight decay (never on norms, biases, tokens, positions).")
    adam_beta1: float = option(0.9, "AdamW beta1.")
    adam_beta2: float = option(0.95, "AdamW beta2.")
    adam_epsilon: float = option(1e-8, "AdamW epsilon.")
    max_steps: int | None = option(None, "Optimizer steps to train for (or --max_clips).")
    max_clips: int | None = option(None, "Clips to train on, all processes (or --max_steps): steps = clips / G.")
    warmup_steps: int = option(0, "Linear warm-up steps before the cosine decay (or --warmup_fraction).")
    warmup_fraction: float | None = option(None, "Warm-up as a fraction of the run (instead of --warmup_steps).")
    ema_anneal_fraction: float | None = option(None, "EMA decay anneal as a fraction of the run (else the model's).")
    max_grad_norm: float = option(4.0, "Gradient clipping norm (<= 0: no clipping).")
    mixed_precision: str | None = option(
        None, "Mixed precision (default: what `accelerate launch`/config says).", choices=MIXED_PRECISION_CHOICES
    )
    seed: int = option(0, "Seed of model init, masks and data order.")
    max_consecutive_bad_steps: int = option(10, "Stop after this many non-finite steps in a row.")
    find_unused_parameters: bool = option(False, "DDP find_unused_parameters.")
    ddp_comm_hook: str = option("bf16", "DDP gradient compression on GPUs.", choices=tuple(COMM_HOOKS))
    contrastive_negatives: str = option(
        "all_processes", "Negatives from this process's batch or every process's (grows).", choices=NEGATIVES_CHOICES
    )


@dataclass
class CheckpointingOptions:
    output_dir: str | None = option(None, "Where checkpoints, logs and exports go.")
    overwrite_output_dir: bool = option(False, "Delete an earlier run's checkpoints and metrics instead of refusing.")
    checkpointing_steps: int = option(1000, "Write a checkpoint every N steps.")
    checkpoints_total_limit: int = option(3, "Keep only the last K complete checkpoints.")
    resume_from_checkpoint: str | None = option(None, "'latest' (the newest complete checkpoint, if any) or a path.")
    allow_rng_state_errors: bool = option(False, "Resume without a checkpoint's RNG states (no longer bit-exact).")


@dataclass
class LoggingOptions:
    logging_steps: int = option(10, "Log metrics every N optimizer steps.")
    report_to: str = option("tensorboard", "Accelerate tracker(s) or 'none' (metrics.jsonl always).")
    tracker_project_name: str = option("aasp_pretraining", "Tracker project name.")
    collapse_threshold: float = option(1e-4, "Warn when the teacher target variance falls below this (collapse).")
    log_level: str = option("info", "Log level of the main process.")


@dataclass
class HubOptions:
    push_to_hub: bool = option(False, "Upload <output_dir>/final to the Hub at the end.")
    hub_model_id: str | None = option(None, "Repository id, e.g. 'user/aasp-base'.")
    hub_private_repo: bool = option(False, "Create the repository as private.")
    model_name: str | None = option(None, "Name shown in the model card.")


@dataclass
class DebugOptions:
    debug_nan_steps: list[int] = field(
        default_factory=list, metadata={"help": "Testing only: replace the loss by NaN at these optimizer steps."}
    )


POSITIVE_OPTIONS = {
    "optimization": (
        "per_device_batch_size",
        "gradient_accumulation_steps",
        "max_steps",
        "max_clips",
        "lr_reference_batch",
        "max_consecutive_bad_steps",
    ),
    "data": ("crop_frames", "norm_stats_clips"),
    "logging": ("logging_steps",),
    "checkpointing": ("checkpointing_steps",),
}


@dataclass
class PretrainingOptions:
    """Every option of a pre-training run, one attribute per YAML section."""

    data: DataOptions
    model: ModelOptions
    optimization: OptimizationOptions
    checkpointing: CheckpointingOptions
    logging: LoggingOptions
    hub: HubOptions
    debug: DebugOptions

    def sections(self) -> dict[str, dict]:
        """Options grouped by section, in the layout `--config` reads back."""
        return {name: asdict(getattr(self, name)) for name in OPTION_SECTIONS}

    def flat(self) -> dict:
        return {key: value for section in self.sections().values() for key, value in section.items()}

    def validate(self) -> None:
        """Raises `ValueError` naming the first option that is missing or out of range."""
        data, optim = self.data, self.optimization
        length = optim.max_steps if optim.max_clips is None else optim.max_clips
        required = {"dataset": data.dataset, "output_dir": self.checkpointing.output_dir, "max_steps": length}
        missing = [f"--{name}" for name, value in required.items() if value is None]
        if missing:
            raise ValueError(f"Missing required option(s): {', '.join(missing)}.")
        for first, second in (("max_steps", "max_clips"), ("warmup_steps", "warmup_fraction")):
            if getattr(optim, first) and getattr(optim, second) is not None:
                raise ValueError(f"Give --{first} or --{second}, not both.")
        for section, names in POSITIVE_OPTIONS.items():
            for name in names:
                value = getattr(getattr(self, section), name)
                if value is not None and value <= 0:
                    raise ValueError(f"--{name} must be positive, got {value}.")
        for name in ("warmup_fraction", "ema_anneal_fraction"):
            value = getattr(optim, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"--{name} must lie in [0, 1], got {value}.")
        if optim.max_steps is not None and not 0 <= optim.warmup_steps <= optim.max_steps:
            raise ValueError(
                f"--warmup_steps must lie in [0, max_steps={optim.max_steps}], got {optim.warmup_steps}; "
                "--warmup_fraction states it as a share of the run, which follows --max_steps."
            )
        for section in OPTION_SECTIONS:  # a YAML file bypasses argparse's choices
            options = getattr(self, section)
            for spec in fields(options):
                value, choices = getattr(options, spec.name), spec.metadata.get("choices", ())
                if choices and value != spec.default and value not in choices:
                    raise ValueError(f"--{spec.name} must be one of {list(choices)}, got {value!r}.")
        if (data.norm_mean is None) != (data.norm_std is None):
            raise ValueError("Give both --norm_mean and --norm_std, or neither (then they are computed).")
        if self.hub.push_to_hub and not self.hub.hub_model_id:
            raise ValueError("--push_to_hub needs --hub_model_id (e.g. 'user/aasp-tiny').")


OPTION_SECTIONS: dict[str, type] = get_type_hints(PretrainingOptions)  # YAML section name -> its option dataclass

OptionValue = TypeVar("OptionValue")


def required_option(value: OptionValue | None, name: str) -> OptionValue:
    """The value of an option that `PretrainingOptions.validate` requires; raises `ValueError` when it is missing."""
    if value is None:
        raise ValueError(f"Missing required option(s): --{name}.")
    return value


def parse_pretraining_options(argv: list[str] | None = None) -> PretrainingOptions:
    """Command line (and `--config FILE.yaml`, flags win) -> validated `PretrainingOptions`."""
    parsed = parse_arguments(list(OPTION_SECTIONS.values()), argv)
    options = PretrainingOptions(**dict(zip(OPTION_SECTIONS, parsed, strict=True)))
    options.validate()
    return options


def clips_per_step(options: OptimizationOptions, num_processes: int) -> int:
    """The global batch: clips per optimizer step, all processes together."""
    return options.per_device_batch_size * options.gradient_accumulation_steps * num_processes


def resolve_run_length(options: OptimizationOptions, num_processes: int) -> int | None:
    """Turns a recipe stated in clips and fractions into steps for this launch: --max_steps from --max_clips (rounded
    down to whole global batches), --warmup_steps from --warmup_fraction; returns the EMA anneal in steps from
    --ema_anneal_fraction (None: keep the model's). The sources are cleared, so the options read as resolved."""
    if options.max_clips is not None:
        options.max_steps = max(1, options.max_clips // clips_per_step(options, num_processes))
        options.max_clips = None
    max_steps = required_option(options.max_steps, "max_steps")
    if options.warmup_fraction is not None:
        options.warmup_steps, options.warmup_fraction = round(options.warmup_fraction * max_steps), None
    anneal_fraction, options.ema_anneal_fraction = options.ema_anneal_fraction, None
    return None if anneal_fraction is None else max(1, round(anneal_fraction * max_steps))


def peak_learning_rate(options: OptimizationOptions, num_processes: int) -> float:
    """--learning_rate scaled from --lr_reference_batch to this launch's global batch by --lr_scaling."""
    ratio = clips_per_step(options, num_processes) / options.lr_reference_batch
    return options.learning_rate * LR_SCALING_RULES[options.lr_scaling](ratio)


# Set-up steps
class LaunchError(RuntimeError):
    """The processes that were started are not the ones that were asked for."""


class TrainingDiverged(RuntimeError):
    """Too many consecutive non-finite steps."""


def check_launch(accelerator: Accelerator, environ=None) -> None:
    """Fail loudly when a launch asked for several processes but Accelerate set up only one, so that N independent
    runs would write to one folder: `accelerate launch --cpu --num_processes N` without `mpirun` (it sets MASTER_PORT
    but starts one process), or N launched processes (WORLD_SIZE) left non-distributed (FSDP without GPUs)."""
    environ = os.environ if environ is None else environ
    if accelerator.num_processes > 1:
        return
    launched_by_size = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
    cpu = environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
    if cpu and "MASTER_PORT" in environ and not any(key in environ for key in launched_by_size):
        raise LaunchError(
            "`accelerate launch --cpu --num_processes N` started a single process: without --mpirun_hostfile, "
            "Accelerate's CPU launcher does not spawn N processes. For multi-process CPU training run "
            "`ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes N examples/pretrain.py ...`."
        )
    launched = int(environ.get("WORLD_SIZE", "1") or 1)
    if launched > 1:
        raise LaunchError(
            f"The launcher started {launched} processes (WORLD_SIZE={launched}) but Accelerate set up a single, "
            "non-distributed one: each process would train alone and write to the same output folder. This happens "
            "with a GPU config (DDP, FSDP or DeepSpeed) on a machine without GPUs: on CPUs set ACCELERATE_USE_CPU=true "
            "before `accelerate launch` (the processes then run DDP over gloo)."
        )


def teacher_ema(model: AaSPForPreTraining) -> TeacherEMA:
    """The EMA of `model`'s teacher on fp32 masters, its decay schedule from the model's config. DeepSpeed casts the
    whole module to bf16/fp16, whose resolution is far above an EMA step (1e-4 to 1e-5): the masters keep the teacher
    moving. A backend that partitions the teacher (DeepSpeed ZeRO-3) stops the launch (`LaunchError`)."""
    cfg = model.config
    try:
        return TeacherEMA(model.teacher, model.aasp, cfg.ema_decay_start, cfg.ema_decay_end, cfg.ema_anneal_steps)
    except ValueError as error:
        raise LaunchError(str(error)) from None


def build_accelerator(options: PretrainingOptions) -> Accelerator:
    """The Accelerator of a run; data loaders keep their per-step order (see `Pretrainer.build_batches`), batches are
    copied to the device without blocking, DDP compresses gradients (--ddp_comm_hook, GPUs only: gloo lacks it)."""
    output_dir = required_option(options.checkpointing.output_dir, "output_dir")
    report_to: list[str | LoggerType | GeneralTracker] | None = (
        None if options.logging.report_to == "none" else list(options.logging.report_to.split(","))
    )
    accelerator = Accelerator(
        gradient_accumulation_steps=options.optimization.gradient_accumulation_steps,
        mixed_precision=options.optimization.mixed_precision,
        log_with=report_to,
        # checkpoint folders are named and rotated by CheckpointStore, never by Accelerate
        project_config=ProjectConfiguration(project_dir=output_dir, logging_dir=str(Path(output_dir) / "logs")),
        # each process gets whole batches of one global batch sampler, prepared on every process alike
        dataloader_config=DataLoaderConfiguration(
            split_batches=False, dispatch_batches=False, even_batches=True, non_blocking=True
        ),
        kwargs_handlers=[
            DistributedDataParallelKwargs(
                find_unused_parameters=options.optimization.find_unused_parameters,
                gradient_as_bucket_view=True,
                comm_hook=COMM_HOOKS[options.optimization.ddp_comm_hook if torch.cuda.is_available() else "none"],
            )
        ],
        dynamo_backend="inductor" if options.model.torch_compile else None,
    )
    if accelerator.distributed_type == DistributedType.DEEPSPEED:
        # the batch sampler has no batch_size attribute, so DeepSpeed cannot infer an "auto" micro-batch size
        plugin = accelerator.state.deepspeed_plugin
        assert plugin is not None  # set whenever the distributed type is DeepSpeed
        config = plugin.deepspeed_config
        if config.get("train_micro_batch_size_per_gpu", "auto") == "auto":
            config["train_micro_batch_size_per_gpu"] = options.optimization.per_device_batch_size
    return accelerator


def prepare_output_dir(options: PretrainingOptions, accelerator: Accelerator) -> None:
    """Lock the folder for this run; refuse to mix two runs in it unless resuming or told to overwrite; write the
    resolved options."""
    ckpt = options.checkpointing
    output_dir = Path(required_option(ckpt.output_dir, "output_dir"))
    if accelerator.is_main_process:
        hold_output_dir(output_dir)  # one run per folder, until this process exits
        if CheckpointStore(output_dir).complete() and not ckpt.resume_from_checkpoint:
            if not ckpt.overwrite_output_dir:
                raise FileExistsError(
                    f"{output_dir} already holds checkpoints; pass --resume_from_checkpoint latest to continue or "
                    "--overwrite_output_dir to start over."
                )
            for name in ("checkpoints", "logs", "final", FEATURE_EXTRACTOR_DIR):
                shutil.rmtree(output_dir / name, ignore_errors=True)
            (output_dir / METRICS_FILE).unlink(missing_ok=True)
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / CONFIG_FILE).write_text(yaml.safe_dump(options.sections(), sort_keys=False))
    accelerator.wait_for_everyone()


def load_records(options: PretrainingOptions, accelerator: Accelerator):
    """The corpus records; the main process downloads or prepares the dataset first, the others then reuse it."""
    data = options.data
    dataset = required_option(data.dataset, "dataset")
    check_checkpoint_path(dataset, "--dataset", model=False)
    with accelerator.main_process_first():
        return load_audio_records(
            dataset,
            source_type=data.dataset_type,
            config_name=data.dataset_config_name,
            split=data.dataset_split,
            streaming=data.streaming,
            audio_column=data.audio_column,
            embedded_clips_per_class=data.embedded_clips_per_class,
            embedded_corpus_seed=data.embedded_corpus_seed,
        )


def build_feature_extractor(options: PretrainingOptions, records, accelerator: Accelerator) -> AaSPFeatureExtractor:
    """The feature extractor with the corpus log-mel mean/std: given, reused from an earlier run, or computed once
    (on the main process, over the first --norm_stats_clips usable clips) and saved in <output_dir>."""
    data = options.data
    saved = Path(required_option(options.checkpointing.output_dir, "output_dir")) / FEATURE_EXTRACTOR_DIR
    if accelerator.is_main_process and not saved.is_dir():
        feature_extractor = AaSPFeatureExtractor()
        mean, std = data.norm_mean, data.norm_std
        featurizer = ClipFeaturizer(feature_extractor, data.crop_frames, data.min_clip_seconds)
        num_clips = (
            data.norm_stats_clips if mean is None else 1
        )  # given statistics: one decodable clip is still required
        try:
            clips = iter_waveforms(records, featurizer, num_clips, data.audio_column)
            if mean is None:
                rate = feature_extractor.sampling_rate
                mean, std = compute_normalization_stats(clips, feature_extractor, num_clips, sampling_rate=rate)
            else:
                next(clips)
        except ValueError as error:
            raise ValueError(f"--dataset {data.dataset}: {error}") from None
        assert mean is not None and std is not None  # given together (`validate`) or computed together
        feature_extractor.set_normalization(float(mean), float(std))
        feature_extractor.save_pretrained(saved)
        logger.info(f"Log-mel normalisation: mean={feature_extractor.mean:.4f}, std={feature_extractor.std:.4f}")
    accelerator.wait_for_everyone()
    return AaSPFeatureExtractor.from_pretrained(saved)


def model_config(name: str, overrides: dict) -> AaSPConfig:
    """`'tiny'`, `'base'`, `'paper'` or a config / checkpoint folder, with `overrides` applied."""
    presets = {"tiny": AaSPConfig.tiny, "base": AaSPConfig, "paper": AaSPConfig.paper}
    if name in presets:
        return presets[name](**overrides)
    if Path(name).exists():
        return AaSPConfig.from_pretrained(name, **overrides)
    raise ValueError(f"--model_config must be 'tiny', 'base', 'paper' or an existing config path, got {name!r}.")


def build_model(options: ModelOptions) -> AaSPForPreTraining:
    overrides = cast(dict[str, Any], options.model_overrides)  # a mapping once parsed (`ModelOptions.__post_init__`)
    if options.init_from:
        loaded = AaSPForPreTraining.from_pretrained(options.init_from, output_loading_info=True, **overrides)
        model, info = cast(tuple[AaSPForPreTraining, dict], loaded)  # output_loading_info=True: (model, info)
        if any(key.startswith("teacher.") for key in info.get("missing_keys", [])):
            logger.info(f"{options.init_from} has no teacher weights: the teacher starts as a copy of the student.")
            model.reset_teacher()
    else:
        model = AaSPForPreTraining(model_config(options.model_config, overrides))
    if options.gradient_checkpointing:
        enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
        enable()
    return model


def check_crop_fits_patches(crop_frames: int, config: AaSPConfig) -> None:
    """Crops must tile whole time patches (a partial last patch would be mostly padding)."""
    if crop_frames % config.time_patch_size != 0:
        suggestion = max(1, round(crop_frames / config.time_patch_size)) * config.time_patch_size
        raise ValueError(
            f"--crop_frames ({crop_frames}) must be a multiple of the model's time_patch_size "
            f"({config.time_patch_size}), e.g. {suggestion}."
        )


def build_optimizer(
    model: torch.nn.Module, options: OptimizationOptions, learning_rate: float, fused: bool = False
) -> torch.optim.AdamW:
    """AdamW without weight decay on norms, biases, tokens, positions, fixed SBLU parameters and gates; `fused`: one
    kernel per parameter group (CPU and CUDA), which can also skip a step on the device (`found_inf`)."""
    groups = weight_decay_groups(model, options.weight_decay)  # the EMA teacher has no trainable parameter
    betas = (options.adam_beta1, options.adam_beta2)
    return torch.optim.AdamW(groups, lr=learning_rate, betas=betas, eps=options.adam_epsilon, fused=fused or None)


def sharded_pretraining_loader(
    records, feature_extractor, *, prepare, num_processes: int, start_batch: int, **options
):
    """The batches of one process of `num_processes` for a map-style corpus, from its batch `start_batch` on.

    ONE global loader goes through `prepare` (`accelerator.prepare`, split_batches=False), which hands process r the
    global batches r, r + W, ...: the batches a per-process sampler (`rank=r, world_size=W`) would give, for any
    backend. `options` are `build_pretraining_dataloader`'s keyword arguments.
    """
    loader = build_pretraining_dataloader(
        records, feature_extractor, rank=0, world_size=1, start_batch=start_batch * num_processes, **options
    )
    return prepare(loader)


# Metrics
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
            scalars = {f"train/{key}": value for key, value in record.items() if key != "step" and value is not None}
            self.accelerator.log(scalars, step=record["step"])

    def truncate(self, step: int) -> None:
        """Drop records logged after `step` by an interrupted run (they are logged again)."""
        if not self.accelerator.is_main_process or not self.path.is_file():
            return
        kept = [
            line for line in self.path.read_text().splitlines() if line and json.loads(line).get("step", 0) <= step
        ]
        self.path.write_text("".join(line + "\n" for line in kept))


def json_safe(value):
    """JSON has no NaN/Inf: keep them readable as strings."""
    return value if not isinstance(value, float) or math.isfinite(value) else str(value)


def assert_finite_state(state_dict: dict[str, torch.Tensor], where: str) -> None:
    for name, tensor in state_dict.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise RuntimeError(f"Refusing to write {where}: parameter {name!r} is not finite.")


# The training loop
@dataclass
class MicroBatchTotals:
    """What the micro-batches of the current optimizer step add up to (on this process)."""

    terms: dict[str, torch.Tensor] = field(default_factory=dict)  # summed detached loss terms
    micro_batches: int = 0
    nonfinite: torch.Tensor | bool = False  # () bool on the device: a micro-batch had a non-finite loss

    def add(self, terms: dict[str, torch.Tensor], nonfinite: torch.Tensor) -> None:
        self.terms = terms if not self.terms else {name: self.terms[name] + terms[name] for name in terms}
        self.micro_batches += 1
        self.nonfinite = self.nonfinite | nonfinite


@dataclass
class StepOutcome:
    """One optimizer step, as () tensors on the device, read at the next logging or checkpoint step."""

    nonfinite: torch.Tensor  # bool: the loss (any process) or the gradient was non-finite; the update was skipped
    applied: torch.Tensor  # bool: the optimizer changed the weights (false too when fp16's GradScaler skipped)
    grad_norm: torch.Tensor | None  # None when the backend clips itself and reports no norm (DeepSpeed)
    decay: float  # the EMA decay of the step


class Pretrainer:
    """The pre-training loop of one run: `resume`, then `train` (per micro-batch `forward_backward`, per optimizer
    step `apply_update` and `end_step`), then `export`.

    Host syncs: the loop reads device values only at logging and checkpoint steps (`read_outcomes`: one read for the
    steps since the last one). With fused AdamW and no GradScaler (DDP or one process, fp32 or bf16) a non-finite step
    is skipped on the device (the optimizer's `found_inf`, the teacher's EMA weight 0), so it is reported, and a run
    with --max_consecutive_bad_steps of them in a row is stopped, up to --logging_steps later than it happened; the
    weights never take a non-finite step. fp16, FSDP and DeepSpeed decide on the host, one sync per step.
    """

    def __init__(
        self,
        options: PretrainingOptions,
        accelerator: Accelerator,
        model: AaSPForPreTraining,
        feature_extractor: AaSPFeatureExtractor,
        records,
    ):
        self.options = options
        self.accelerator = accelerator
        self.feature_extractor = feature_extractor
        self.records = records
        choice, optim, ckpt = options.data.features_on_device, options.optimization, options.checkpointing
        self.features_on_device = choice == "true" or (choice == "auto" and accelerator.device.type == "cuda")
        ema_anneal_steps = resolve_run_length(optim, accelerator.num_processes)
        if ema_anneal_steps is not None:
            model.config.ema_anneal_steps = ema_anneal_steps
        elif model.config.ema_anneal_steps > required_option(optim.max_steps, "max_steps"):
            logger.warning(
                f"The EMA decay anneals over {model.config.ema_anneal_steps} steps, longer than this run's "
                f"{optim.max_steps}: it never reaches its end; --ema_anneal_fraction ties it to the run's length."
            )
        plain = accelerator.distributed_type.name in ("NO", "MULTI_GPU", "MULTI_CPU")
        fused = plain and accelerator.device.type in ("cpu", "cuda")
        self.skip_on_device = fused and accelerator.mixed_precision != "fp16"
        learning_rate = peak_learning_rate(optim, accelerator.num_processes)
        optimizer = build_optimizer(model, optim, learning_rate, fused=fused)
        self.scheduler = get_cosine_schedule_with_warmup(
            optimizer, optim.warmup_steps, required_option(optim.max_steps, "max_steps")
        )
        if optim.contrastive_negatives == "all_processes":
            use_cross_process_negatives(model)
        # the scheduler stays unprepared (a prepared one steps once per process) and is saved as JSON, not pickled
        self.model, self.optimizer = accelerator.prepare(model, optimizer)
        self.ema = teacher_ema(accelerator.unwrap_model(self.model))
        output_dir = required_option(ckpt.output_dir, "output_dir")
        self.checkpoints = CheckpointStore(
            output_dir, ckpt.checkpoints_total_limit, before_commit=lambda folder, _: self.ema.save(folder)
        )
        self.writer = MetricsWriter(accelerator, output_dir)
        self.progress = TrainingProgress()
        self.resumed_from: Path | None = None
        self.totals = MicroBatchTotals()
        self.outcomes: list[StepOutcome] = []  # steps not read yet
        self.local_skipped_clips = 0  # unusable clips met by this process since the last read
        self.last_metrics: dict = {}

    @classmethod
    def from_options(cls, options: PretrainingOptions, model_factory=build_model) -> Pretrainer:
        """Every set-up step: accelerator, logging, output folder, seed, data, feature extractor and model.

        `model_factory(options.model)` builds the model (default `build_model`; research variants pass their own).
        """
        accelerator = build_accelerator(options)
        check_launch(accelerator)
        setup_logging(options.logging.log_level, is_main_process=accelerator.is_local_main_process)
        prepare_output_dir(options, accelerator)
        set_seed(options.optimization.seed)
        records = load_records(options, accelerator)
        feature_extractor = build_feature_extractor(options, records, accelerator)
        model = model_factory(options.model)
        check_crop_fits_patches(options.data.crop_frames, model.config)
        return cls(options, accelerator, model, feature_extractor, records)

    def resume(self, spec: str | None) -> None:
        """Restores the newest complete checkpoint (`'latest'`) or the given one; `None`: start fresh. A checkpoint
        of another number of processes resumes at the same clip when the global batch is unchanged."""
        checkpoint = self.checkpoints.find(spec)
        if checkpoint is not None:
            self.progress = self.checkpoints.load(
                self.accelerator, checkpoint, self.options.checkpointing.allow_rng_state_errors
            )
            if self.progress.scheduler:
                self.scheduler.load_state_dict(self.progress.scheduler)
            self.ema.load(checkpoint)
            self.resumed_from = checkpoint
            self.check_global_batch(checkpoint)
            logger.info(f"Resumed from {checkpoint} at step {self.progress.step}.")
        self.writer.truncate(self.progress.step)  # a fresh start after a kill drops the killed run's records
        self.accelerator.wait_for_everyone()

    def check_global_batch(self, checkpoint: Path) -> None:
        """Raises `CheckpointError` when the step-based schedules would no longer match the data position; reseeds
        the global RNGs from (seed, rank, step) when the number of processes changed (their files do not map)."""
        progress, per_step = self.progress, clips_per_step(self.options.optimization, self.accelerator.num_processes)
        if not progress.num_processes:  # older checkpoints: written at the global batch of this launch
            progress.consumed_clips = progress.step * per_step
        if progress.consumed_clips != progress.step * per_step:
            raise CheckpointError(
                f"{checkpoint} consumed {progress.consumed_clips} clips in {progress.step} steps; this launch takes "
                f"{per_step} clips per step. Keep the global batch (per-device batch x accumulation x processes) of "
                "the checkpoint, e.g. through --gradient_accumulation_steps."
            )
        if progress.num_processes not in (0, self.accelerator.num_processes):
            entropy = np.random.SeedSequence(
                [self.options.optimization.seed, self.accelerator.process_index, progress.step]
            )
            set_seed(int(entropy.generate_state(1)[0]))

    def build_batches(self):
        """The batches of this process from the current clip on (docs/pretraining.md, "Data order"): a map-style
        corpus through `sharded_pretraining_loader`, starting at `consumed_clips`; a stream is already split per
        process, so it is not prepared (Accelerate would shard it again), and it decodes the batches it skips."""
        data, optim, accelerator = self.options.data, self.options.optimization, self.accelerator
        rank, world_size = accelerator.process_index, accelerator.num_processes
        options: dict[str, Any] = dict(
            batch_size=optim.per_device_batch_size,
            crop_frames=data.crop_frames,
            seed=optim.seed,
            num_workers=data.num_workers,
            audio_column=data.audio_column,
            min_clip_seconds=data.min_clip_seconds,
            shuffle_buffer_size=data.shuffle_buffer_size,
            return_waveforms=self.features_on_device,
            pin_memory=accelerator.device.type == "cuda",
            mask_config=accelerator.unwrap_model(self.model).config,  # the workers draw each clip's mask noise
        )
        if num_records(self.records) is not None:
            return sharded_pretraining_loader(
                self.records,
                self.feature_extractor,
                prepare=accelerator.prepare,
                num_processes=world_size,
                start_batch=0,
                start_position=self.progress.consumed_clips,
                **options,
            )
        stream = split_stream_by_process(self.records, rank, world_size)
        start_batch = self.progress.step * optim.gradient_accumulation_steps
        return build_pretraining_dataloader(
            stream, self.feature_extractor, rank=rank, world_size=world_size, start_batch=start_batch, **options
        )

    def model_inputs(self, batch: dict) -> dict[str, torch.Tensor]:
        """input_values (B, T, F), attention_mask (B, T) and the workers' mask noise (B, M, 2, N) on the device
        (pinned batches: copied asynchronously); the log-mel computed here if asked."""
        device = self.accelerator.device
        names = ("noise",) if self.features_on_device else ("input_values", "attention_mask", "noise")
        inputs = {name: batch[name].to(device, non_blocking=True) for name in names}
        if self.features_on_device:
            inputs |= features_from_waveform_batch(
                batch, self.feature_extractor, self.options.data.crop_frames, device
            )
        return inputs

    def train(self) -> dict:
        """Runs optimizer steps until --max_steps; returns the last logged metrics."""
        max_steps = required_option(self.options.optimization.max_steps, "max_steps")
        self.writer.log(
            {
                "event": "start",
                "step": self.progress.step,
                "num_processes": self.accelerator.num_processes,
                "resumed_from": str(self.resumed_from) if self.resumed_from else None,
                "dataset_revision": dataset_description(self.options.data).revision,
            }
        )
        self.accelerator.init_trackers(self.options.logging.tracker_project_name, config=tracker_config(self.options))
        self.bar = tqdm(
            total=max_steps,
            initial=self.progress.step,
            desc="pre-training",
            dynamic_ncols=True,
            disable=not self.accelerator.is_local_main_process,
        )
        self.window_start, self.window_steps = time.perf_counter(), 0
        self.model.train()
        if self.progress.step < max_steps:
            for batch in self.build_batches():
                self.local_skipped_clips += int(batch.pop("num_skipped"))  # a Python int: no device read
                inputs = self.model_inputs(batch)
                with self.accelerator.accumulate(self.model):
                    self.forward_backward(inputs)
                    if self.accelerator.sync_gradients:
                        self.end_step(self.apply_update())
                if self.progress.step >= max_steps:
                    break
        self.bar.close()
        logger.info(f"Finished {self.progress.step} steps; {self.progress.skipped_clips} unusable clips were skipped.")
        return self.last_metrics

    def forward_backward(self, inputs: dict[str, torch.Tensor]) -> None:
        """One micro-batch: loss, backward, and its detached loss terms added to `self.totals`."""
        # values were checked on the host (collate_clips, or the waveforms in the workers): no device read here
        outputs = self.model(**inputs, check_values=False)
        loss = outputs.loss
        if self.progress.step + 1 in self.options.debug.debug_nan_steps:
            loss = loss * float("nan")
        self.accelerator.backward(loss)
        terms = {name: getattr(outputs, name).detach().float() for name in LOSS_METRICS[1:]}
        terms["loss"] = loss.detach().float()
        self.totals.add(terms, nonfinite=~torch.isfinite(terms["loss"]))

    def apply_update(self) -> StepOutcome:
        """Clips and applies the accumulated gradient, unless the loss (on any process) or the gradient is
        non-finite; then the EMA teacher follows (see the class for where the skip is decided)."""
        accelerator = self.accelerator
        nonfinite = torch.as_tensor(self.totals.nonfinite, device=accelerator.device)
        if accelerator.num_processes > 1:  # an all-reduce queued on the device, not a host read
            nonfinite = cast(torch.Tensor, accelerator.reduce(nonfinite.float(), reduction="sum")) > 0
        max_grad_norm = self.options.optimization.max_grad_norm
        norm = accelerator.clip_grad_norm_(self.model.parameters(), max_grad_norm if max_grad_norm > 0 else math.inf)
        # fp16 overflow is the GradScaler's business (it skips the step and lowers the scale), not an error
        if norm is not None and accelerator.scaler is None:
            nonfinite = nonfinite | ~torch.isfinite(norm)
        if self.skip_on_device:
            self.optimizer.optimizer.found_inf = nonfinite.float()  # fused AdamW leaves everything as it is when 1
            self.optimizer.step()
        elif not bool(nonfinite):
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        applied = ~nonfinite & (not accelerator.optimizer_step_was_skipped)
        decay = self.update_teacher(applied)
        return StepOutcome(nonfinite=nonfinite, applied=applied, grad_norm=norm, decay=decay)

    def update_teacher(self, applied: torch.Tensor) -> float:
        """The one EMA call site: teacher <- lerp(teacher, student, 1 - decay) on fp32 masters after a step that
        changed the student (`applied`, () bool on the device), the decay following the steps taken; returns it."""
        if self.skip_on_device:  # `applied` stays on the device
            return self.ema.step(self.progress.step, weight=applied)
        return self.ema.step(self.progress.step) if bool(applied) else self.ema.decay(self.progress.step)

    def end_step(self, outcome: StepOutcome) -> None:
        """Counts the step, logs and checkpoints when due."""
        self.progress.step += 1
        self.progress.consumed_clips += clips_per_step(self.options.optimization, self.accelerator.num_processes)
        self.window_steps += 1
        self.bar.update(1)
        self.outcomes.append(outcome)
        step, max_steps = self.progress.step, self.options.optimization.max_steps
        if step % self.options.logging.logging_steps == 0 or step == max_steps:
            self.log_step()
        if step % self.options.checkpointing.checkpointing_steps == 0 or step == max_steps:
            self.read_outcomes()
            self.save_checkpoint()
        self.totals = MicroBatchTotals()

    def read_outcomes(self, extra: torch.Tensor | None = None) -> list[float]:
        """Reads the steps since the last read and the unusable-clip counts of every process, with `extra` (1-D), in
        one host sync; counts applied updates, reports non-finite steps and stops after too many in a row.
        Returns `extra`'s values."""
        device, outcomes = self.accelerator.device, self.outcomes
        skipped = torch.tensor([float(self.local_skipped_clips)], device=device)
        if self.accelerator.num_processes > 1:
            skipped = cast(torch.Tensor, self.accelerator.reduce(skipped, reduction="sum"))
        nan = torch.tensor(math.nan, device=device)
        rows = [torch.stack([o.nonfinite, o.applied, nan if o.grad_norm is None else o.grad_norm]) for o in outcomes]
        parts = [*rows, skipped, extra if extra is not None else torch.zeros(0, device=device)]
        values = torch.cat([part.reshape(-1).float() for part in parts]).tolist()
        self.outcomes, self.local_skipped_clips = [], 0
        first_step = self.progress.step - len(outcomes) + 1
        for offset, outcome in enumerate(outcomes):
            nonfinite, applied, grad_norm = values[3 * offset : 3 * offset + 3]
            grad_norm = None if outcome.grad_norm is None else grad_norm
            self.progress.updates += int(applied)
            self.track_nonfinite(first_step + offset, bool(nonfinite), grad_norm)
        self.last_grad_norm = grad_norm if outcomes else None
        self.progress.skipped_clips += int(values[3 * len(outcomes)])
        return values[3 * len(outcomes) + 1 :]

    def track_nonfinite(self, step: int, nonfinite: bool, grad_norm: float | None) -> None:
        """Reports a skipped non-finite step and stops after too many in a row."""
        progress, limit = self.progress, self.options.optimization.max_consecutive_bad_steps
        if not nonfinite:
            progress.consecutive_bad_steps = 0
            return
        progress.nonfinite_steps += 1
        progress.consecutive_bad_steps += 1
        logger.error(
            f"Non-finite loss or gradient at step {step} (grad norm {grad_norm}); the update was "
            f"skipped ({progress.consecutive_bad_steps}/{limit} in a row)."
        )
        self.writer.log({"event": "nonfinite_step", "step": step, "grad_norm": str(grad_norm)})
        if progress.consecutive_bad_steps >= limit:
            first = step - progress.consecutive_bad_steps + 1
            raise TrainingDiverged(
                f"Stopping: {progress.consecutive_bad_steps} consecutive steps ({first} to {step}) had a "
                "non-finite loss or gradient. Checkpoints hold the last finite weights; lower --learning_rate, check "
                "the data or use bf16 instead of fp16."
            )

    def log_step(self) -> None:
        """Averages the loss terms over micro-batches and processes and writes one metrics record."""
        elapsed = time.perf_counter() - self.window_start
        means = {name: value / self.totals.micro_batches for name, value in self.totals.terms.items()}
        decay = self.outcomes[-1].decay
        stacked = torch.stack([means[name] for name in LOSS_METRICS]).to(self.accelerator.device)
        reduced = self.read_outcomes(cast(torch.Tensor, self.accelerator.reduce(stacked, reduction="mean")))
        metrics = {"step": self.progress.step, **dict(zip(LOSS_METRICS, reduced, strict=True))}
        metrics.update(
            lr=self.scheduler.get_last_lr()[0],
            ema_decay=decay,
            grad_norm=self.last_grad_norm,
            clips_per_second=clips_per_step(self.options.optimization, self.accelerator.num_processes)
            * self.window_steps
            / elapsed,
            skipped_clips=self.progress.skipped_clips,
            nonfinite_steps=self.progress.nonfinite_steps,
            updates=self.progress.updates,
        )
        threshold = self.options.logging.collapse_threshold
        if math.isfinite(metrics["target_variance"]) and metrics["target_variance"] < threshold:
            logger.warning(
                f"Step {self.progress.step}: teacher target variance {metrics['target_variance']:.2e} is below "
                f"{threshold:g}; the representation may be collapsing."
            )
        self.last_metrics = {key: json_safe(value) for key, value in metrics.items()}
        self.writer.log(self.last_metrics)
        self.bar.set_postfix(loss=self.last_metrics["loss"], acc=self.last_metrics["contrastive_accuracy"])
        self.window_start, self.window_steps = time.perf_counter(), 0

    def save_checkpoint(self) -> Path:
        """A complete checkpoint of the current step (see `CheckpointStore.save`)."""
        assert_finite_state(self.accelerator.unwrap_model(self.model).state_dict(), "a checkpoint")
        self.progress.scheduler = self.scheduler.state_dict()
        self.progress.num_processes = self.accelerator.num_processes
        location = self.checkpoints.save(self.accelerator, self.progress)
        self.writer.log({"event": "checkpoint", "step": self.progress.step, "path": str(location)})
        return location

    def export(self) -> Path | None:
        """Encoder + feature extractor + model card (+ resolved options) in <output_dir>/final; call on every process
        (gathering the state dict is a collective under FSDP and DeepSpeed): the main one returns the folder."""
        state_dict = cast(dict[str, torch.Tensor], self.accelerator.get_state_dict(self.model))  # the model's tensors
        state_dict = {key.removeprefix("_orig_mod."): value for key, value in state_dict.items()}  # --torch_compile
        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            return None
        options = self.options
        final = Path(required_option(options.checkpointing.output_dir, "output_dir")) / "final"
        weights = options.model.export_weights
        prefix = "aasp." if weights == "student" else "teacher."
        encoder_state = {key[len(prefix) :]: value for key, value in state_dict.items() if key.startswith(prefix)}
        assert_finite_state(encoder_state, "the final export")
        self.accelerator.unwrap_model(self.model).export_encoder(str(final), weights=weights, state_dict=encoder_state)
        self.feature_extractor.save_pretrained(str(final))
        (final / CONFIG_FILE).write_text(yaml.safe_dump(options.sections(), sort_keys=False))
        model_card(options, self.last_metrics).save(str(final / "README.md"))
        logger.info(f"Exported the {weights} encoder to {final}.")
        return final

    def end(self) -> None:
        self.accelerator.end_training()


def model_card(options: PretrainingOptions, metrics: dict):
    """The card of <output_dir>/final, named by --model_name, else --hub_model_id, else `aasp-<model>-<data>`."""
    data = options.data.dataset or "data"
    data_name = "embedded" if data == "embedded" else Path(data.rstrip("/\\")).name
    name = (
        options.hub.model_name
        or options.hub.hub_model_id
        or f"aasp-{Path(options.model.model_config).stem}-{data_name}"
    )
    training_args = {
        key: value
        for key, value in options.flat().items()
        if key not in ("debug_nan_steps", "output_dir") and value not in (None, [], {})
    }
    final_metrics = {key: value for key, value in metrics.items() if key in (*LOSS_METRICS, "step", "skipped_clips")}
    return pretrained_card(
        model_name=name,
        pretraining_datasets=[dataset_description(options.data)],
        training_args=training_args,
        metrics=final_metrics or None,
        repo_id=options.hub.hub_model_id,
    )


def dataset_description(data: DataOptions) -> TrainingDataset:
    """The pre-training data as the model card cites it (Hub id and config in the metadata, license looked up)."""
    dataset = required_option(data.dataset, "dataset")
    if dataset in code_sources():
        card_dataset = code_sources()[dataset].card_dataset
        return cast(
            TrainingDataset,
            card_dataset(seed=data.embedded_corpus_seed, clips_per_class=data.embedded_clips_per_class),
        )
    if Path(dataset).exists():
        return TrainingDataset(None, name=f"a local corpus ({Path(dataset).name})")
    name = dataset if not data.dataset_config_name else f"{dataset} ({data.dataset_config_name})"
    return TrainingDataset(dataset, name=name, config=data.dataset_config_name)


def tracker_config(options: PretrainingOptions) -> dict:
    """Scalar options only (TensorBoard hparams accept int, float, str and bool)."""
    return {
        key: value if isinstance(value, (int, float, str, bool)) else json.dumps(value)
        for key, value in options.flat().items()
        if value is not None
    }


def push_to_hub(options: PretrainingOptions, folder: Path) -> None:
    """Uploads `folder` (the final export) to `--hub_model_id`."""
    hub = options.hub
    repo_id = required_option(hub.hub_model_id, "hub_model_id")
    api = HfApi()
    repo = api.create_repo(repo_id, private=hub.hub_private_repo, exist_ok=True)
    api.upload_folder(
        repo_id=repo_id,
        folder_path=str(folder),
        commit_message=f"AaSP pre-training ({options.optimization.max_steps} steps)",
    )
    logger.info(f"Pushed {folder} to {getattr(repo, 'repo_id', repo_id)}.")


__all__ = [
    "CONFIG_FILE",
    "METRICS_FILE",
    "OPTION_SECTIONS",
    "LaunchError",
    "Pretrainer",
    "PretrainingOptions",
    "TrainingDiverged",
    "build_accelerator",
    "check_launch",
    "model_config",
    "parse_pretraining_options",
    "push_to_hub",
    "sharded_pretraining_loader",
]
