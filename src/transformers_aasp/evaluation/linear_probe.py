# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Linear evaluation of a frozen audio encoder (the EVAR-style protocol used by the M2D / BYOL-A papers).

Every clip is cut to the task's `clip_seconds` by the clip-length rule of every script (`audio.fit_clip`: a shorter
clip is not padded with silence, its padding is masked) and embedded once by the frozen encoder (`ClipEmbedder`);
embeddings are cached as safetensors, keyed by model weights + the data's content + source split. A linear layer
on standardised embeddings is trained with Adam and early-stopped on validation (`train_linear_classifier`), its
weight decay chosen on validation (`select_weight_decay`), and the test split is scored once. Folds follow the task
registry; without a validation split a stratified fraction of train is held out. One seed's score is the mean over
folds; several seeds give mean and 95 % interval (`run_protocol`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm
from transformers import AutoFeatureExtractor, AutoModel
from transformers.utils import logging

from ..audio import ANALYSIS_WINDOW_SAMPLES, SAMPLING_RATE, decode_waveform, fit_clip
from ..data.loading import LoadedTask
from ..data.protocols import encode_targets
from ..data.sources import undecoded_audio
from ..reporting.metrics import metric_name, score_logits, summarize_scores, wilson_interval
from ..training.arguments import option


logger = logging.get_logger(__name__)

PROTOCOL = (
    "linear evaluation (frozen encoder, standardised mean embeddings, early-stopped linear layer, weight decay chosen "
    "on validation)"
)
WEIGHT_DECAY_GRID = (1e-8, 1e-4, 1e-3, 1e-2, 1e-1)


@dataclass
class LinearProbeArguments:
    """Options of the embedding step and of the linear probe."""

    hidden_layer: int | None = option(None, "Use hidden_states[layer] instead.")
    batch_size: int = option(16, "Clips per forward pass when embedding.")
    embedding_cache_dir: str = option("outputs/embeddings", "Embedding cache folder.")
    num_seeds: int = option(3, "Repetitions with different seeds.")
    first_seed: int = option(42, "Seed of the first repetition.")
    learning_rate: float = option(3e-4, "Adam learning rate (M2D uses 3e-5).")
    max_epochs: int = option(200, "Maximum epochs of the linear layer.")
    patience: int = option(20, "Early-stopping patience in epochs.")
    weight_decay: float | None = option(None, "Fixed Adam weight decay (default: chosen on validation).")
    weight_decay_grid: list[float] = field(
        default_factory=lambda: list(WEIGHT_DECAY_GRID),
        metadata={"help": "Weight decays tried on the validation split when --weight_decay is not given."},
    )
    output_dir: str = option("outputs/linear_eval", "Where results JSON is written.")
    device: str = option("cuda" if torch.cuda.is_available() else "cpu", "Torch device.")


# ---- Embeddings -------------------------------------------------------------------------------------------------------
class ClipEmbedder:
    """Frozen encoder -> one (D,) vector per clip (`pool_clip_embedding`)."""

    def __init__(self, model, feature_extractor, hidden_layer: int | None, device: str):
        self.model, self.feature_extractor = model.eval().to(device), feature_extractor
        self.hidden_layer, self.device = hidden_layer, device

    @torch.no_grad()
    def __call__(self, waveforms: list[np.ndarray]) -> np.ndarray:
        inputs = self.feature_extractor(waveforms, sampling_rate=SAMPLING_RATE, return_tensors="pt")
        inputs = {key: value.to(self.device) for key, value in inputs.items()}
        outputs = self.model(**inputs, output_hidden_states=self.hidden_layer is not None)
        return pool_clip_embedding(outputs, self.hidden_layer).float().cpu().numpy()


def pool_clip_embedding(outputs, hidden_layer: int | None) -> torch.Tensor:
    """(B, D') clip embeddings from an encoder output: for AaSP, the mean of `time_column_features` (B, G_t, G_f * D)
    over the valid time columns; for other encoders (e.g. AST), the mean over tokens of `last_hidden_state` (B, N, D),
    or of `hidden_states[hidden_layer]`."""
    columns = getattr(outputs, "time_column_features", None)
    if hidden_layer is None and columns is not None:
        valid = outputs.time_column_attention_mask.unsqueeze(-1).to(columns.dtype)  # (B, G_t, 1)
        return (columns * valid).sum(dim=1) / valid.sum(dim=1).clamp(min=1.0)
    tokens = outputs.last_hidden_state if hidden_layer is None else outputs.hidden_states[hidden_layer]
    return tokens.mean(dim=1)


def model_fingerprint(model) -> str:
    """sha1 of the config and every weight: a cache key that changes whenever the checkpoint does."""
    digest = hashlib.sha1(model.config.to_json_string(use_diff=False).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def safe_file_name(text: str) -> str:
    """`text` with every run of characters unsafe in a file name replaced by "_"."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def embed_split(dataset, embedder: ClipEmbedder, benchmark: LoadedTask, batch_size: int) -> dict:
    """{"embeddings": (N, D) float32, "targets": (N,) int64 or (N, K) float32, "valid": (N,) bool} for one split."""
    dataset = undecoded_audio(dataset)
    clip_samples = benchmark.spec.clip_samples
    min_samples = getattr(embedder.feature_extractor, "min_num_samples", ANALYSIS_WINDOW_SAMPLES)
    chunks, valid = [], np.zeros(dataset.num_rows, dtype=bool)
    for start in tqdm(range(0, dataset.num_rows, batch_size), desc="Embedding", leave=False):
        batch = dataset[start : start + batch_size]
        waveforms = [decode_waveform(audio) for audio in batch["audio"]]
        keep = [i for i, w in enumerate(waveforms) if w is not None]
        valid[start + np.asarray(keep, dtype=np.int64)] = True
        if keep:
            chunks.append(embedder([fit_clip(w, clip_samples, min_samples) for w in waveforms if w is not None]))
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


# ---- Linear classifier ------------------------------------------------------------------------------------------------
def train_linear_classifier(
    train,
    validation,
    num_labels: int,
    multi_label: bool,
    seed: int,
    *,
    learning_rate: float = 3e-4,
    max_epochs: int = 200,
    patience: int = 20,
    weight_decay: float = 1e-8,
):
    """One linear layer (D -> num_labels) on standardised embeddings, early-stopped on validation: (the fitted
    StandardScaler, the layer with its best validation weights restored, the best validation score).

    `train` and `validation` are {"embeddings": (N, D), "targets": (N,) class ids or (N, num_labels) multi-hot}; the
    batch is min(200, N), and training stops after `patience` epochs without a better validation score.
    """
    torch.manual_seed(seed)
    scaler = StandardScaler().fit(train["embeddings"])
    features = torch.from_numpy(scaler.transform(train["embeddings"])).float()
    targets = torch.from_numpy(train["targets"])
    val_features = torch.from_numpy(scaler.transform(validation["embeddings"])).float()
    layer = torch.nn.Linear(features.shape[1], num_labels)
    optimizer = torch.optim.Adam(layer.parameters(), lr=learning_rate, betas=(0.9, 0.999), weight_decay=weight_decay)
    loss_fn = torch.nn.BCEWithLogitsLoss() if multi_label else torch.nn.CrossEntropyLoss()
    batch_size = min(200, len(features))
    generator = torch.Generator().manual_seed(seed)
    best_score, best_state, epochs_since_best = -np.inf, None, 0
    for _ in range(max_epochs):
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
            if epochs_since_best >= patience:
                break
    if best_state is None:
        raise ValueError(
            f"The linear probe never scored on validation: max_epochs must be >= 1 (got {max_epochs}) and the "
            "validation score finite."
        )
    layer.load_state_dict(best_state)
    return scaler, layer, best_score


def select_weight_decay(train, validation, num_labels: int, multi_label: bool, seed: int, probe: LinearProbeArguments):
    """(StandardScaler, linear layer, weight decay, {str(weight decay): best validation score}) of the probe with the
    weight decay of `probe.weight_decay_grid` that scores best on `validation` (ties: the first in the grid);
    `probe.weight_decay` fixes the value instead."""
    grid = [probe.weight_decay] if probe.weight_decay is not None else list(probe.weight_decay_grid)
    if not grid:
        raise ValueError("--weight_decay_grid is empty: give at least one value, or fix --weight_decay.")
    schedule = {"learning_rate": probe.learning_rate, "max_epochs": probe.max_epochs, "patience": probe.patience}
    best, validation_scores = None, {}
    for weight_decay in grid:
        scaler, layer, score = train_linear_classifier(
            train, validation, num_labels, multi_label, seed, weight_decay=weight_decay, **schedule
        )
        validation_scores[str(weight_decay)] = float(score)
        if best is None or score > best[2]:
            best = (scaler, layer, score, weight_decay)
    assert best is not None, "the grid is non-empty (checked above), so one weight decay was fitted"
    scaler, layer, _, chosen = best
    return scaler, layer, chosen, validation_scores


@torch.no_grad()
def predicted_correctly(scaler, layer, test: dict) -> np.ndarray:
    """(N,) bool: whether the probe's arg-max class is each single-label test clip's class."""
    layer.eval()
    features = torch.from_numpy(scaler.transform(test["embeddings"])).float()
    return layer(features).argmax(dim=-1).numpy() == np.asarray(test["targets"])


@torch.no_grad()
def score_split(layer, features: torch.Tensor, targets: np.ndarray, multi_label: bool) -> float:
    layer.eval()
    logits = layer(features).numpy()
    return score_logits(logits, targets, multi_label)[metric_name(multi_label)]


def select_rows(arrays: dict, indices: np.ndarray) -> dict:
    rows = indices[arrays["valid"][indices]]
    return {"embeddings": arrays["embeddings"][rows], "targets": arrays["targets"][rows]}


def evaluate_fold(
    benchmark, embeddings: dict, fold, probe: LinearProbeArguments, validation_fraction: float, seed: int
) -> dict:
    """One fold (or the single split) for one seed: {"score": test score, "weight_decay": the value chosen on
    validation, "validation_scores": {weight decay: score}}."""
    indices = benchmark.split_indices(fold, validation_fraction=validation_fraction, seed=seed)
    if "validation" not in indices:
        raise ValueError("Linear evaluation needs validation data for early stopping: use --train_val_split > 0.")
    split = {name: select_rows(embeddings[source], rows) for name, (source, rows) in indices.items()}
    multi_label = benchmark.spec.multi_label
    scaler, layer, chosen, validation_scores = select_weight_decay(
        split["train"], split["validation"], benchmark.num_labels, multi_label, seed, probe
    )
    test_features = torch.from_numpy(scaler.transform(split["test"]["embeddings"])).float()
    score = score_split(layer, test_features, split["test"]["targets"], multi_label)
    return {"score": score, "weight_decay": chosen, "validation_scores": validation_scores}


# ---- The protocol -----------------------------------------------------------------------------------------------------
def load_embedder(name_or_path: str, trust_remote_code: bool, probe: LinearProbeArguments) -> ClipEmbedder:
    """The frozen encoder (`AutoModel`) and its feature extractor, as a `ClipEmbedder`."""
    model = AutoModel.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
    feature_extractor = AutoFeatureExtractor.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
    return ClipEmbedder(model, feature_extractor, probe.hidden_layer, probe.device)


def embed_task(benchmark: LoadedTask, embedder: ClipEmbedder, model_name: str, probe: LinearProbeArguments) -> dict:
    """Embeddings of every source split, {split_name: arrays} (see `embed_split`), cached under a folder named by the
    model's weights and the data's content."""
    model_key = f"{safe_file_name(Path(model_name).name or model_name)}-{model_fingerprint(embedder.model)}"
    spec, layer = benchmark.spec, probe.hidden_layer
    task_key = f"{spec.name}-{benchmark.fingerprint()}-{spec.clip_seconds:g}s-fit-layer{layer}"
    folder = Path(probe.embedding_cache_dir) / model_key / task_key
    return {
        split: cached_embeddings(
            folder / f"{split}.safetensors",
            lambda dataset=dataset: embed_split(dataset, embedder, benchmark, probe.batch_size),
        )
        for split, dataset in benchmark.dataset.items()
    }


def run_protocol(
    benchmark: LoadedTask, embeddings: dict, probe: LinearProbeArguments, fold=None, validation_fraction: float = 0.1
) -> dict:
    """Every fold (or `fold`) for every seed: {"per_seed", "per_fold", "weight_decay" (fold -> the value chosen on
    validation, per seed), "mean", "std", "ci95", "n", "num_test_clips"}."""
    folds = [fold] if fold is not None else benchmark.spec.folds
    per_seed, per_fold, weight_decay = [], {str(f): [] for f in folds}, {str(f): [] for f in folds}
    for seed in range(probe.first_seed, probe.first_seed + probe.num_seeds):
        runs = [evaluate_fold(benchmark, embeddings, f, probe, validation_fraction, seed) for f in folds]
        for f, run in zip(folds, runs, strict=True):
            per_fold[str(f)].append(run["score"])
            weight_decay[str(f)].append(run["weight_decay"])
        per_seed.append(float(np.mean([run["score"] for run in runs])))
        logger.info(f"seed {seed}: {per_seed[-1]:.4f} (weight decay {[run['weight_decay'] for run in runs]})")
    num_test = num_test_clips(benchmark, embeddings, folds, validation_fraction)
    results = {
        "per_seed": per_seed,
        "per_fold": per_fold,
        "weight_decay": weight_decay,
        **summarize_scores(per_seed),
        "num_test_clips": num_test,
    }
    if probe.num_seeds == len(folds) == 1 and not benchmark.spec.multi_label:  # one run: its test clips' interval
        results["wilson95"] = wilson_interval(round(per_seed[0] * num_test), num_test)
    return results


def num_test_clips(benchmark, embeddings: dict, folds: list, validation_fraction: float) -> int:
    """The test clips each seed is scored on, over `folds` (clips that could not be embedded are left out; the test
    rows do not depend on the seed, only the validation hold-out does)."""
    total = 0
    for fold in folds:
        source, rows = benchmark.split_indices(fold, validation_fraction=validation_fraction)["test"]
        total += int(embeddings[source]["valid"][rows].sum())
    return total


def write_results(results: dict, model_name: str, benchmark: LoadedTask, probe: LinearProbeArguments) -> Path:
    """`<output_dir>/linear_eval_<benchmark>_<model folder name>.json` with the protocol and the data revision."""
    path = Path(probe.output_dir) / f"linear_eval_{benchmark.spec.name}_{safe_file_name(Path(model_name).name)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "model": model_name,
        "benchmark": benchmark.spec.name,
        "dataset": benchmark.spec.dataset_id,
        "dataset_revision": getattr(benchmark, "revision", None),
        "metric": metric_name(benchmark.spec.multi_label),
        "protocol": PROTOCOL,
        "hidden_layer": probe.hidden_layer,
        "weight_decay_selection": "fixed" if probe.weight_decay is not None else "validation",
        "weight_decay_grid": [probe.weight_decay] if probe.weight_decay is not None else list(probe.weight_decay_grid),
        "seeds": list(range(probe.first_seed, probe.first_seed + probe.num_seeds)),
        **results,
    }
    path.write_text(json.dumps(payload, indent=2))
    logger.info(f"Wrote {path}")
    return path


def summary_line(results: dict, model_name: str, benchmark: LoadedTask) -> str:
    interval = f"± {100 * results['ci95']:.2f} (95 % CI, {results['n']} seeds"
    if "wilson95" in results:
        low, high = results["wilson95"]
        interval = f"(95 % Wilson interval {100 * low:.2f}-{100 * high:.2f}, {results['num_test_clips']} test clips"
    return (
        f"{benchmark.spec.display_name} | {model_name} | {metric_name(benchmark.spec.multi_label)} "
        f"{100 * results['mean']:.2f} {interval}; weight decay "
        f"{sorted({value for values in results['weight_decay'].values() for value in values})})"
    )
