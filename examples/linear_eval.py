#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Linear evaluation of a frozen audio encoder (the EVAR-style protocol used by the M2D / BYOL-A papers).

    python examples/linear_eval.py --model_name_or_path <ckpt> --benchmark esc50 --all_folds --output_dir out/le
    python examples/linear_eval.py --model_name_or_path MIT/ast-finetuned-audioset-10-10-0.4593 --benchmark spcv2

Protocol:
    1. Every clip is cut to the benchmark's clip length (first `clip_seconds`, zero-padded when shorter).
    2. The frozen encoder gives one vector per clip: for AaSP, the mean over valid time columns of
       `frame_features` (B, G_t, G_f * D); for any other AutoModel audio encoder (e.g. AST), the mean over tokens of
       `last_hidden_state`, or of `hidden_states[--hidden_layer]`. Embeddings are cached as safetensors under
       `--embedding_cache_dir`, keyed by model weights + task + source split, and reused across folds and seeds.
    3. StandardScaler fit on train; one linear layer trained with Adam (weight decay 1e-8), batch min(200, N), up to
       200 epochs, early stopping with patience 20 on validation accuracy (mAP for multi-label), best weights restored.
    4. Folds as in the registry (leave one fold out); without a validation split, a deterministic stratified 10 % of
       train is held out. The score of one seed is the mean over folds; several seeds give mean and 95 % interval.
"""

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import transformers
from safetensors.numpy import load_file, save_file
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm
from transformers import AutoFeatureExtractor, AutoModel, HfArgumentParser

import transformers_aasp  # noqa: F401  (registers AaSP with the Auto classes)
from transformers_aasp.audio import crop_or_pad, decode_waveform
from transformers_aasp.data.benchmarks import (
    SAMPLING_RATE,
    LoadedBenchmark,
    encode_targets,
    resolve_benchmark,
    undecoded_audio,
)
from transformers_aasp.reporting.metrics import metric_name, score_logits, summarize_scores


logger = transformers.utils.logging.get_logger("transformers_aasp.linear_eval")


@dataclass
class LinearEvalArguments:
    model_name_or_path: str = field(metadata={"help": "Frozen encoder: AaSP or any AutoModel audio encoder."})
    benchmark: str | None = field(default=None, metadata={"help": "Registered benchmark, e.g. esc50."})
    dataset_name: str | None = field(default=None, metadata={"help": "Hub id or local path (overrides the copy)."})
    dataset_config_name: str | None = field(default=None, metadata={"help": "Config of --dataset_name."})
    audio_column: str = field(default="audio", metadata={"help": "Audio column of --dataset_name."})
    label_column: str = field(default="label", metadata={"help": "Label column of --dataset_name."})
    multi_label: bool = field(default=False, metadata={"help": "--dataset_name labels are lists."})
    fold_column: str | None = field(default=None, metadata={"help": "--dataset_name: leave-one-fold-out column."})
    fold: int | None = field(default=None, metadata={"help": "Evaluate one fold only (default: every fold)."})
    clip_seconds: float | None = field(default=None, metadata={"help": "Clip length (default: the benchmark's)."})
    verify_split_sizes: bool = field(default=True, metadata={"help": "Check official split sizes (SPCV2)."})
    corpus_clips_per_class: int | None = field(
        default=None, metadata={"help": "Embedded corpus tasks: clips per class to build (default: the corpus's)."}
    )
    hidden_layer: int | None = field(default=None, metadata={"help": "Use hidden_states[layer] instead."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow the checkpoint's own code."})
    batch_size: int = field(default=16, metadata={"help": "Clips per forward pass when embedding."})
    embedding_cache_dir: str = field(default="outputs/embeddings", metadata={"help": "Embedding cache folder."})
    num_seeds: int = field(default=3, metadata={"help": "Repetitions with different seeds."})
    first_seed: int = field(default=42, metadata={"help": "Seed of the first repetition."})
    learning_rate: float = field(default=3e-4, metadata={"help": "Adam learning rate (M2D uses 3e-5)."})
    max_epochs: int = field(default=200, metadata={"help": "Maximum epochs of the linear layer."})
    patience: int = field(default=20, metadata={"help": "Early-stopping patience in epochs."})
    validation_fraction: float = field(default=0.1, metadata={"help": "Held-out fraction without validation."})
    output_dir: str = field(default="outputs/linear_eval", metadata={"help": "Where results JSON is written."})
    device: str = field(default="cuda" if torch.cuda.is_available() else "cpu", metadata={"help": "Torch device."})


# ----------------------------------------------------------------------------------------------------------------------
# Embeddings


class ClipEmbedder:
    """Frozen encoder -> one (D,) vector per clip.

    AaSP outputs: mean of `frame_features` (B, G_t, G_f * D) over columns where `frame_mask` (B, G_t) is True.
    Other encoders: mean over tokens of `last_hidden_state` (B, N, D), or of `hidden_states[layer]`.
    """

    def __init__(self, model, feature_extractor, hidden_layer: int | None, device: str):
        self.model = model.eval().to(device)
        self.feature_extractor = feature_extractor
        self.hidden_layer = hidden_layer
        self.device = device

    @torch.no_grad()
    def __call__(self, waveforms: list[np.ndarray]) -> np.ndarray:
        inputs = self.feature_extractor(waveforms, sampling_rate=SAMPLING_RATE, return_tensors="pt")
        inputs = {key: value.to(self.device) for key, value in inputs.items()}
        outputs = self.model(**inputs, output_hidden_states=self.hidden_layer is not None)
        return pool_clip_embedding(outputs, self.hidden_layer).float().cpu().numpy()


def pool_clip_embedding(outputs, hidden_layer: int | None) -> torch.Tensor:
    """(B, D') clip embeddings from an encoder output (see `ClipEmbedder`)."""
    if hidden_layer is None and getattr(outputs, "frame_features", None) is not None:
        valid = outputs.frame_mask.unsqueeze(-1).to(outputs.frame_features.dtype)
        return (outputs.frame_features * valid).sum(dim=1) / valid.sum(dim=1).clamp(min=1.0)
    tokens = outputs.last_hidden_state if hidden_layer is None else outputs.hidden_states[hidden_layer]
    return tokens.mean(dim=1)


def model_fingerprint(model) -> str:
    """sha1 of the config and every weight: a cache key that changes whenever the checkpoint does."""
    digest = hashlib.sha1(model.config.to_json_string(use_diff=False).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def cache_path(cache_dir: str, model_name: str, model_key: str, benchmark: LoadedBenchmark, split: str, layer) -> Path:
    safe_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(model_name).name or model_name)
    task_key = f"{benchmark.spec.name}-{benchmark.fingerprint()}-{benchmark.spec.clip_seconds:g}s-layer{layer}"
    return Path(cache_dir) / f"{safe_name}-{model_key}" / task_key / f"{split}.safetensors"


def embed_split(dataset, embedder: ClipEmbedder, benchmark: LoadedBenchmark, batch_size: int) -> dict:
    """{"embeddings": (N, D) float32, "targets": (N,) int64 or (N, K) float32, "valid": (N,) bool} for one split."""
    dataset = undecoded_audio(dataset)
    clip_samples = benchmark.spec.clip_samples
    chunks, valid = [], np.zeros(dataset.num_rows, dtype=bool)
    for start in tqdm(range(0, dataset.num_rows, batch_size), desc="Embedding", leave=False):
        batch = dataset[start : start + batch_size]
        waveforms = [decode_waveform(audio) for audio in batch["audio"]]
        keep = [i for i, w in enumerate(waveforms) if w is not None]
        valid[start + np.asarray(keep, dtype=np.int64)] = True
        if keep:
            chunks.append(embedder([crop_or_pad(waveforms[i], clip_samples) for i in keep]))
    if not valid.any():
        raise RuntimeError("No clip of the split could be decoded; check the audio column.")
    embeddings = np.zeros((dataset.num_rows, chunks[0].shape[1]), dtype=np.float32)
    embeddings[valid] = np.concatenate(chunks)
    if not valid.all():
        logger.warning(f"Skipped {int((~valid).sum())} undecodable clip(s) of {dataset.num_rows}.")
    labels = dataset.select_columns(["label"]).to_dict()["label"]
    targets = encode_targets(labels, benchmark.num_labels, benchmark.spec.multi_label)
    return {"embeddings": embeddings, "targets": targets, "valid": valid}


def cached_embeddings(path: Path, compute) -> dict:
    if path.is_file():
        logger.info(f"Using cached embeddings {path}")
        arrays = load_file(str(path))
        return {**arrays, "valid": arrays["valid"].astype(bool)}
    arrays = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({**arrays, "valid": arrays["valid"].astype(np.uint8)}, str(path))
    return arrays


# ----------------------------------------------------------------------------------------------------------------------
# Linear classifier


def train_linear_classifier(
    train, validation, num_labels: int, multi_label: bool, args: LinearEvalArguments, seed: int
):
    """One linear layer (D -> num_labels) on standardised embeddings, early-stopped on validation.

    Args:
        train / validation: {"embeddings": (N, D), "targets": (N,) class ids or (N, num_labels) multi-hot}.

    Returns:
        (fitted StandardScaler, the linear layer with the best validation weights restored, best validation score).
    """
    torch.manual_seed(seed)
    scaler = StandardScaler().fit(train["embeddings"])
    features = torch.from_numpy(scaler.transform(train["embeddings"])).float()
    targets = torch.from_numpy(train["targets"])
    val_features = torch.from_numpy(scaler.transform(validation["embeddings"])).float()
    layer = torch.nn.Linear(features.shape[1], num_labels)
    optimizer = torch.optim.Adam(layer.parameters(), lr=args.learning_rate, betas=(0.9, 0.999), weight_decay=1e-8)
    loss_fn = torch.nn.BCEWithLogitsLoss() if multi_label else torch.nn.CrossEntropyLoss()
    batch_size = min(200, len(features))
    generator = torch.Generator().manual_seed(seed)
    best_score, best_state, epochs_since_best = -np.inf, None, 0
    for _ in range(args.max_epochs):
        layer.train()
        for batch in torch.randperm(len(features), generator=generator).split(batch_size):
            optimizer.zero_grad()
            loss_fn(layer(features[batch]), targets[batch]).backward()
            optimizer.step()
        score = score_split(layer, val_features, validation["targets"], multi_label)
        if score > best_score:
            best_score, best_state, epochs_since_best = score, {k: v.clone() for k, v in layer.state_dict().items()}, 0
        else:
            epochs_since_best += 1
            if epochs_since_best >= args.patience:
                break
    layer.load_state_dict(best_state)
    return scaler, layer, best_score


@torch.no_grad()
def score_split(layer, features: torch.Tensor, targets: np.ndarray, multi_label: bool) -> float:
    layer.eval()
    logits = layer(features).numpy()
    return score_logits(logits, targets, multi_label)[metric_name(multi_label)]


def select_rows(arrays: dict, indices: np.ndarray) -> dict:
    rows = indices[arrays["valid"][indices]]
    return {"embeddings": arrays["embeddings"][rows], "targets": arrays["targets"][rows]}


def evaluate_fold(benchmark, embeddings: dict, fold, args: LinearEvalArguments, seed: int) -> float:
    """Test score of one fold (or the single split) for one seed."""
    indices = benchmark.split_indices(fold, validation_fraction=args.validation_fraction, seed=seed)
    if "validation" not in indices:
        raise ValueError("Linear evaluation needs validation data for early stopping: use --validation_fraction > 0.")
    split = {name: select_rows(embeddings[source], rows) for name, (source, rows) in indices.items()}
    multi_label = benchmark.spec.multi_label
    scaler, layer, _ = train_linear_classifier(
        split["train"], split["validation"], benchmark.num_labels, multi_label, args, seed
    )
    test_features = torch.from_numpy(scaler.transform(split["test"]["embeddings"])).float()
    return score_split(layer, test_features, split["test"]["targets"], multi_label)


# ----------------------------------------------------------------------------------------------------------------------
# Script


def parse_arguments(args: list[str] | None = None) -> LinearEvalArguments:
    (parsed,) = HfArgumentParser(LinearEvalArguments).parse_args_into_dataclasses(args=args)
    return parsed


def benchmark_from_arguments(args: LinearEvalArguments) -> LoadedBenchmark:
    return resolve_benchmark(
        args.benchmark,
        args.dataset_name,
        audio_column=args.audio_column,
        label_column=args.label_column,
        dataset_config=args.dataset_config_name,
        multi_label=args.multi_label,
        fold_column=args.fold_column,
        clip_seconds=args.clip_seconds,
        verify_split_sizes=args.verify_split_sizes,
        corpus_clips_per_class=args.corpus_clips_per_class,
    )


def load_encoder(args: LinearEvalArguments) -> ClipEmbedder:
    model = AutoModel.from_pretrained(args.model_name_or_path, trust_remote_code=args.trust_remote_code)
    feature_extractor = AutoFeatureExtractor.from_pretrained(
        args.model_name_or_path, trust_remote_code=args.trust_remote_code
    )
    return ClipEmbedder(model, feature_extractor, args.hidden_layer, args.device)


def embed_benchmark(benchmark: LoadedBenchmark, embedder: ClipEmbedder, args: LinearEvalArguments) -> dict:
    """Cached embeddings of every source split: {split_name: arrays}."""
    model_key = model_fingerprint(embedder.model)
    return {
        split: cached_embeddings(
            cache_path(
                args.embedding_cache_dir, args.model_name_or_path, model_key, benchmark, split, args.hidden_layer
            ),  # fmt: skip
            lambda dataset=dataset: embed_split(dataset, embedder, benchmark, args.batch_size),
        )
        for split, dataset in benchmark.dataset.items()
    }


def run_protocol(benchmark: LoadedBenchmark, embeddings: dict, args: LinearEvalArguments) -> dict:
    folds = [args.fold] if args.fold is not None else benchmark.spec.folds
    per_seed, per_fold = [], {str(fold): [] for fold in folds}
    for seed in range(args.first_seed, args.first_seed + args.num_seeds):
        scores = [evaluate_fold(benchmark, embeddings, fold, args, seed) for fold in folds]
        for fold, score in zip(folds, scores):
            per_fold[str(fold)].append(score)
        per_seed.append(float(np.mean(scores)))
        logger.info(f"seed {seed}: {np.mean(scores):.4f}")
    return {"per_seed": per_seed, "per_fold": per_fold, **summarize_scores(per_seed)}


def write_results(results: dict, args: LinearEvalArguments, benchmark: LoadedBenchmark) -> Path:
    model_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(args.model_name_or_path).name)
    path = Path(args.output_dir) / f"linear_eval_{benchmark.spec.name}_{model_name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "model": args.model_name_or_path,
        "benchmark": benchmark.spec.name,
        "dataset": benchmark.spec.dataset_id,
        "metric": benchmark.spec.metric,
        "protocol": "linear evaluation (frozen encoder, standardised mean embeddings, early-stopped linear layer)",
        "hidden_layer": args.hidden_layer,
        "seeds": list(range(args.first_seed, args.first_seed + args.num_seeds)),
        **results,
    }
    path.write_text(json.dumps(payload, indent=2))
    return path


def main(argv: list[str] | None = None) -> dict:
    args = parse_arguments(argv)
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", level=logging.INFO)
    transformers.utils.logging.set_verbosity_info()
    benchmark = benchmark_from_arguments(args)
    embedder = load_encoder(args)
    embeddings = embed_benchmark(benchmark, embedder, args)
    results = run_protocol(benchmark, embeddings, args)
    path = write_results(results, args, benchmark)
    print(
        f"{benchmark.spec.display_name} | {args.model_name_or_path} | {benchmark.spec.metric} "
        f"{100 * results['mean']:.2f} ± {100 * results['ci95']:.2f} (95 % CI, {results['n']} seeds) -> {path}"
    )
    return results


if __name__ == "__main__":
    main()
