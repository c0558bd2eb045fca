#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""GPU dry run of AaSP pre-training: everything a first hour on an H100 should measure, in one JSON, in < 10 min.

    python -m bench.gpu_dry_run --out gpu_dry_run.json                     # base config on the GPU (bf16)
    python -m bench.gpu_dry_run --device cpu --tiny --out /tmp/dry.json     # the same sections, tiny, on the CPU

The step is the device-ready call path of `bench.pretrain_throughput` (mask noise drawn ahead, no value checks in
the step, nothing read back, fused AdamW, `TeacherEMA`). Sections, each written to the JSON as it finishes, and
skipped (`{"skipped": ...}`) once `--deadline_s` has passed; an error in one is recorded and the next runs:

- environment: GPU, memory, CUDA, torch, enabled SDPA backends, the model's resolved attention implementation.
- throughput: per-device batches (default 12, 48, 96, 160; stops at the first out-of-memory): median s/step,
  clips/s, FLOPs per clip (FlopCounterMode), achieved TFLOP/s, MFU against --peak_tflops (an H100 SXM's dense
  bf16 989), peak memory (`max_memory_allocated`).
- synchronisations: one step under `torch.cuda.set_sync_debug_mode("warn")` (each warning's source line), and the
  device-independent census of `common.DispatchCensus`.
- phases: device time per phase of a step, from CUDA events (CPU: wall clock) set by module hooks: teacher and masks,
  student AaPE, student encoder, predictor, losses, backward, clipping + optimizer, EMA.
- compile: `torch.compile(model, fullgraph=True)` against eager at the smallest batch: compile seconds, s/step.
- numerics: bf16 autocast against float32 on the same batch and noise: the four loss terms and the relative error
  of the student's AaPE patch embeddings.
- log_mel: device log-mel of a batch of 10 s waveforms (`features_from_waveform_batch`), ms per batch.
- host_to_device: the same waveform batch copied from pageable and from pinned memory, ms per copy (GPU only).
- projection: clips/s at the fastest batch -> hours for the paper-scale run (20 M clips: 10 AudioSet-2M epochs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path

import torch

from bench.common import DispatchCensus, machine_info, synchronize
from bench.pretrain_throughput import CROP_FRAMES, H100_BF16_DENSE_TFLOPS, LoopStep, build_config, count_flops


PAPER_SCALE_CLIPS = 20_000_000  # 10 epochs of AudioSet-2M
WAVEFORM_SECONDS = 10.0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("gpu_dry_run.json"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="Tiny config, short crops, small batches (a CPU check).")
    parser.add_argument(
        "--batches", type=int, nargs="+", default=None, help="Per-device batches (default 12 48 96 160)."
    )
    parser.add_argument("--steps", type=int, default=8, help="Timed steps per measurement.")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--dtype", choices=("bf16", "fp32"), default=None, help="Default: bf16 on a GPU, fp32 on a CPU."
    )
    parser.add_argument("--compile_backend", default=None, help="Default: inductor on a GPU, eager on a CPU.")
    parser.add_argument("--peak_tflops", type=float, default=H100_BF16_DENSE_TFLOPS)
    parser.add_argument("--skip", nargs="+", default=[], help="Sections not to run (e.g. compile).")
    parser.add_argument("--deadline_s", type=float, default=540.0, help="Sections starting later are skipped.")
    args = parser.parse_args(argv)
    cuda = torch.device(args.device).type == "cuda"
    args.batches = args.batches or ([2, 4] if args.tiny else [12, 48, 96, 160])
    args.dtype = args.dtype or ("bf16" if cuda else "fp32")
    args.compile_backend = args.compile_backend or ("inductor" if cuda else "eager")
    args.frames = 96 if args.tiny else CROP_FRAMES
    return args


def make_step(args, batch_size: int) -> LoopStep:
    return LoopStep(
        build_config("tiny" if args.tiny else "base"), batch_size, args.device, args.dtype, "device_ready", args.frames
    )


def is_cuda(args) -> bool:
    return torch.device(args.device).type == "cuda"


def release(args) -> None:
    if is_cuda(args):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def timed_steps(step: LoopStep, args) -> list[float]:
    """Seconds of `args.steps` steps after `args.warmup`, each waited for on the device."""
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        synchronize(args.device)
        start = time.perf_counter()
        step()
        synchronize(args.device)
        times.append(time.perf_counter() - start)
    return times


# ---- sections ------------------------------------------------------------------------------------------------------


def environment(args) -> dict:
    info = {**machine_info(), "device": args.device, "dtype": args.dtype, "config": "tiny" if args.tiny else "base"}
    if is_cuda(args):
        props = torch.cuda.get_device_properties(torch.device(args.device))
        info |= {
            "gpu_name": props.name,
            "gpu_memory_gib": props.total_memory / 2**30,
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "sdpa_backends": {
                "flash": torch.backends.cuda.flash_sdp_enabled(),
                "mem_efficient": torch.backends.cuda.mem_efficient_sdp_enabled(),
                "cudnn": torch.backends.cuda.cudnn_sdp_enabled(),
                "math": torch.backends.cuda.math_sdp_enabled(),
            },
        }
    step = make_step(args, 1)
    info["attn_implementation"] = step.model.config._attn_implementation
    info["peak_tflops"] = args.peak_tflops
    return info


def throughput(args) -> dict:
    rows = {}
    for batch_size in args.batches:
        release(args)
        try:
            step = make_step(args, batch_size)
            times = timed_steps(step, args)
            flops = count_flops(step)
        except torch.OutOfMemoryError as error:
            rows[str(batch_size)] = {"out_of_memory": str(error).splitlines()[0]}
            break
        seconds = statistics.median(times)
        row = {
            "median_s": seconds,
            "min_s": min(times),
            "max_s": max(times),
            "clips_per_s": batch_size / seconds,
            "flops_per_clip": flops / batch_size,
            "achieved_tflops": flops / seconds / 1e12,
        }
        if is_cuda(args):
            row["mfu"] = flops / seconds / (args.peak_tflops * 1e12)
            row["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
        rows[str(batch_size)] = row
        print(f"batch {batch_size}: {json.dumps(row)}", flush=True)
        del step
    return rows


def synchronisations(args) -> dict:
    step = make_step(args, args.batches[0])
    step()  # lazy initialisation (optimizer state, allocator) is not the steady state
    result = {}
    if is_cuda(args):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                step()
                torch.cuda.current_stream().synchronize()  # waits without an API call that warns
            finally:
                torch.cuda.set_sync_debug_mode(0)
        lines = [f"{Path(w.filename).name}:{w.lineno}: {str(w.message).splitlines()[0]}" for w in caught]
        result["cuda_sync_debug"] = {"count": len(lines), "lines": lines}
    with DispatchCensus() as census:
        step(census)
    result["census"] = {
        "aten_ops": census.ops,
        "syncs": len(census.syncs),
        "lines": [line for _, line in census.syncs],
    }
    return result


class PhaseClock:
    """Timestamps of a step's phases: CUDA events on a GPU (device time), the wall clock on a CPU."""

    def __init__(self, args):
        self.cuda = is_cuda(args)
        self.marks: list[tuple[str, object]] = []

    def mark(self, name: str) -> None:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.marks.append((name, event))
        else:
            self.marks.append((name, time.perf_counter()))

    def phases_ms(self) -> dict[str, float]:
        """Milliseconds from each mark to the next, named after the first."""
        if self.cuda:
            torch.cuda.synchronize()
        spans = {}
        for (name, start), (_, end) in zip(self.marks, self.marks[1:], strict=False):
            spans[name] = start.elapsed_time(end) if self.cuda else 1e3 * (end - start)
        return spans


def marker(clock: PhaseClock, name: str):
    """A forward (pre-)hook marking the start of phase `name`."""

    def hook(*_):
        clock.mark(name)

    return hook


def phases(args) -> dict:
    step = make_step(args, args.batches[0])
    model = step.model
    runs = []
    for index in range(args.warmup + args.steps):
        clock = PhaseClock(args)
        starts = {
            "teacher_and_masks": model,
            "student_aape": model.aasp.embeddings,
            "student_encoder": model.aasp.layers[0],
            "predictor": model.predictor,
        }
        hooks = [module.register_forward_pre_hook(marker(clock, name)) for name, module in starts.items()]
        hooks.append(model.predictor.register_forward_hook(marker(clock, "losses")))
        try:
            values = step.host_values.to(step.device, non_blocking=True)
            mask = step.host_mask.to(step.device, non_blocking=True)
            with step.autocast:
                loss = model(values, attention_mask=mask, **step.mask_source()).loss
            clock.mark("backward")
            loss.backward()
            clock.mark("clip_and_optimizer")
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            step.optimizer.step()
            step.optimizer.zero_grad(set_to_none=True)
            clock.mark("ema")
            step.ema.step(step.updates)
            step.updates += 1
            clock.mark("end")
        finally:
            for hook in hooks:
                hook.remove()
        if index >= args.warmup:
            runs.append(clock.phases_ms())
    return {name: statistics.median(run[name] for run in runs) for name in runs[0]}


def compile_vs_eager(args) -> dict:
    batch_size = args.batches[0]
    result = {"backend": args.compile_backend, "batch_size": batch_size}
    eager = make_step(args, batch_size)
    result["eager_median_s"] = statistics.median(timed_steps(eager, args))
    del eager
    torch._dynamo.reset()
    step = make_step(args, batch_size)
    step.model = torch.compile(step.model, fullgraph=True, backend=args.compile_backend)
    start = time.perf_counter()
    step()
    synchronize(args.device)
    result["first_step_s"] = time.perf_counter() - start  # tracing and compiling included
    result["compiled_median_s"] = statistics.median(timed_steps(step, args))
    result["speedup"] = result["eager_median_s"] / result["compiled_median_s"]
    result["graph_breaks"] = 0  # fullgraph=True raises at the first one
    return result


def numerics(args) -> dict:
    from transformers_aasp import draw_mask_noise

    step = make_step(args, args.batches[0])
    model, config = step.model, step.model.config
    values = step.host_values.to(step.device)
    mask = step.host_mask.to(step.device)
    noise = draw_mask_noise(config, values.shape[0], values.shape[1], torch.Generator().manual_seed(0)).to(step.device)
    outputs = {}
    with torch.no_grad():
        for name, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
            context = (
                torch.autocast(step.device.type, dtype=dtype)
                if dtype
                else torch.autocast(step.device.type, enabled=False)
            )
            with context:
                out = model(values, attention_mask=mask, noise=noise, check_values=False)
                spectrogram, lengths = model.aasp.embeddings.prepare_inputs(values, mask, check_values=False)
                embeddings = model.aasp.embeddings(spectrogram, lengths)[0].float()
            outputs[name] = (out, embeddings)
    terms = {}
    for term in ("loss", "masked_patch_loss", "global_loss", "contrastive_loss"):
        exact, low = float(getattr(outputs["fp32"][0], term)), float(getattr(outputs["bf16"][0], term))
        terms[term] = {"fp32": exact, "bf16": low, "relative_difference": abs(low - exact) / abs(exact)}
    reference, low = outputs["fp32"][1], outputs["bf16"][1]
    terms["aape_embeddings_relative_error"] = float((low - reference).norm() / reference.norm())
    return terms


def waveform_batch(args) -> dict:
    batch_size = args.batches[0]
    samples = int(WAVEFORM_SECONDS * 16000)
    return {
        "waveforms": torch.randn(batch_size, samples) * 0.1,
        "waveform_lengths": torch.full((batch_size,), samples, dtype=torch.long),
    }


def log_mel(args) -> dict:
    from transformers_aasp import AaSPFeatureExtractor
    from transformers_aasp.data.pretraining import features_from_waveform_batch

    extractor = AaSPFeatureExtractor()
    batch = {key: value.to(args.device) for key, value in waveform_batch(args).items()}
    times = []
    for index in range(args.warmup + args.steps):
        synchronize(args.device)
        start = time.perf_counter()
        features_from_waveform_batch(batch, extractor, args.frames, device=args.device)
        synchronize(args.device)
        if index >= args.warmup:
            times.append(time.perf_counter() - start)
    return {
        "batch_size": len(batch["waveforms"]),
        "seconds_per_clip": WAVEFORM_SECONDS,
        "ms_per_batch": 1e3 * statistics.median(times),
    }


def host_to_device(args) -> dict:
    if not is_cuda(args):
        return {"skipped": "no accelerator: host and device memory are the same"}
    pageable = waveform_batch(args)["waveforms"]
    pinned = pageable.pin_memory()
    result = {"megabytes": pageable.numel() * 4 / 1e6}
    for name, source in (("pageable", pageable), ("pinned", pinned)):
        times = []
        for _ in range(args.warmup + args.steps):
            torch.cuda.synchronize()
            start = time.perf_counter()
            source.to(args.device, non_blocking=True)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        result[f"{name}_ms"] = 1e3 * statistics.median(times[args.warmup :])
    return result


def projection(result: dict) -> dict:
    rows = [row for row in result.get("throughput", {}).values() if isinstance(row, dict) and "clips_per_s" in row]
    if not rows:
        return {"skipped": "no throughput measured"}
    best = max(rows, key=lambda row: row["clips_per_s"])
    return {
        "clips": PAPER_SCALE_CLIPS,
        "clips_per_s": best["clips_per_s"],
        "mfu": best.get("mfu"),
        "device_hours": PAPER_SCALE_CLIPS / best["clips_per_s"] / 3600,
        "assumptions": "the fastest measured batch sustained for the whole run, data loading keeping up",
    }


SECTIONS = (
    ("environment", environment),
    ("throughput", throughput),
    ("synchronisations", synchronisations),
    ("phases", phases),
    ("compile", compile_vs_eager),
    ("numerics", numerics),
    ("log_mel", log_mel),
    ("host_to_device", host_to_device),
)


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.monotonic()
    result: dict = {"command_args": {key: str(value) for key, value in vars(args).items()}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name, section in SECTIONS:
        if name in args.skip:
            result[name] = {"skipped": "--skip"}
        elif time.monotonic() - started > args.deadline_s:
            result[name] = {"skipped": f"deadline of {args.deadline_s:g} s passed"}
        else:
            section_start = time.monotonic()
            try:
                result[name] = section(args)
            except Exception as error:  # one failing section must not lose the others' figures
                result[name] = {"error": f"{type(error).__name__}: {error}"}
            release(args)
            print(f"[{name}] {time.monotonic() - section_start:.1f} s", flush=True)
        args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    result["projection"] = projection(result)
    result["total_s"] = time.monotonic() - started
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"-> {args.out}")
    return result


if __name__ == "__main__":
    main()
