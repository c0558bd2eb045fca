#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Pre-training step throughput as the training loop runs it: time, host time, aten ops and synchronisations per
step, FLOPs, MFU and the projected AudioSet-2M cost.

    python -m bench.pretrain_throughput                                      # tiny config, CPU, fp32, batch 8
    python -m bench.pretrain_throughput --config base --batch_size 2 --repeats 3       # base config on the CPU
    python -m bench.pretrain_throughput --config base --dtype bf16 --batch_size 96 --device cuda   # on a GPU

A step is one optimizer step on a fixed (B, 608, 80) batch with its attention mask (the loop always passes one):
forward (teacher on the full crop, student on M masked views, predictor, three losses), backward, gradient clipping,
AdamW step, EMA teacher update. Two call paths of the same model are timed in one process, alternating:

- `shipped_loop`: what training/pretraining.py did at 270894d: a CPU mask generator passed to the forward (which
  draws on the host and copies), the forward's value checks, `bool(isfinite(loss))` and `float(grad_norm)` every
  step, default AdamW, `update_teacher`.
- `device_ready`: the loop now: mask noise drawn ahead (`draw_mask_noise`, as its data-loader workers do) and
  copied from pinned memory without blocking, `check_values=False` (the data side ran `validate_input_values`),
  nothing read back, fused AdamW, `TeacherEMA` (one foreach call). Skipped when the installed package predates these functions, so the script also
  measures an older checkout (PYTHONPATH=<old checkout>/src).

Per path: median step time; host ms per step (the time to issue a step: on the CPU the whole step; on a GPU the time
before the device is waited for); aten ops and synchronisations per step, counted by `common.DispatchCensus` over
one step (device-independent, so a CPU run shows what a GPU would wait on), with the source line of each.

FLOPs: torch.utils.flop_counter.FlopCounterMode over one forward+backward (matmuls, attention, convolutions; not
elementwise work, so MFU is slightly underestimated). MFU = FLOPs per step / step time / --peak_tflops (989 for an
H100 SXM in dense bf16), on a GPU only.

Projection (printed and stored; measured only when this runs on the GPU it describes):
    GPU-hours = clips per epoch x epochs x FLOPs per clip-step / (MFU x peak FLOP/s) / 3600
with AudioSet-2M = 2,000,000 clips, 10 epochs, base config, M = 8 clones, and MFU = the measured one on a GPU or the
35 % target otherwise; a second projection uses an RTX 3090's 71 dense bf16 TFLOP/s at 35 % MFU, to compare with
EAT in the same GPU-hours. EAT's reference: 10 epochs in about 230 GPU-hours on RTX 3090s (4 GPUs x 5.8 h/epoch).
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import nullcontext

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.common import DispatchCensus, interleaved_medians, load_average, synchronize, write_results


CROP_FRAMES = 608
AUDIOSET_2M_CLIPS = 2_000_000
EPOCHS = 10
EAT_GPU_HOURS = 230.0
MFU_TARGET = 0.35
H100_BF16_DENSE_TFLOPS = 989.0
RTX3090_BF16_DENSE_TFLOPS = 71.0  # tensor cores, FP32 accumulate (GA102 whitepaper): EAT's GPU, like-for-like hours


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=("tiny", "base"), default="tiny")
    parser.add_argument("--batch_size", type=int, default=8, help="Clips per step (each gives M masked views).")
    parser.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32", help="bf16 = autocast, as in pretrain.")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--no_aape", action="store_true", help="Time the plain ViT stem instead of AaPE.")
    parser.add_argument(
        "--peak_tflops", type=float, default=H100_BF16_DENSE_TFLOPS, help="Peak dense TFLOP/s for MFU (GPU only)."
    )
    parser.add_argument("--skip_projection", action="store_true", help="Do not count base-config FLOPs per clip.")
    parser.add_argument("--name", default=None, help="Result file name (default: from config and device).")
    return parser.parse_args(argv)


def build_config(name: str, **overrides):
    from transformers_aasp import AaSPConfig

    return AaSPConfig.tiny(**overrides) if name == "tiny" else AaSPConfig(**overrides)


def device_ready_api_available() -> bool:
    """True when the installed package has the device-ready call path (draw_mask_noise, TeacherEMA)."""
    try:
        from transformers_aasp import draw_mask_noise  # noqa: F401
        from transformers_aasp.training.ema import TeacherEMA  # noqa: F401
    except ImportError:
        return False
    return True


class LoopStep:
    """One optimizer step of AaSP pre-training on a fixed batch, along the `shipped_loop` or `device_ready` path."""

    def __init__(self, config, batch_size: int, device: str, dtype: str, path: str, frames: int = CROP_FRAMES):
        from transformers_aasp import AaSPForPreTraining

        torch.manual_seed(0)
        self.config, self.batch_size, self.frames, self.path = config, batch_size, frames, path
        self.device = torch.device(device)
        self.model = AaSPForPreTraining(config).to(device).train()
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        ready = path == "device_ready"
        self.optimizer = torch.optim.AdamW(trainable, lr=1e-4, weight_decay=0.05, fused=True if ready else None)
        pin = self.device.type == "cuda"
        self.host_values = torch.randn(batch_size, frames, config.num_mel_bins, pin_memory=pin)
        self.host_mask = torch.ones(batch_size, frames, dtype=torch.long, pin_memory=pin)
        self.autocast = (
            torch.autocast(device_type=self.device.type, dtype=torch.bfloat16) if dtype == "bf16" else nullcontext()
        )
        if ready:
            from transformers_aasp.training.ema import TeacherEMA

            cfg = config
            self.ema = TeacherEMA(
                self.model.teacher, self.model.aasp, cfg.ema_decay_start, cfg.ema_decay_end, cfg.ema_anneal_steps
            )
        self.updates = 0

    def mask_source(self) -> dict:
        """The forward's mask arguments for this step: a CPU generator (shipped) or noise drawn ahead (device-ready)."""
        generator = torch.Generator().manual_seed(self.updates)
        if self.path == "shipped_loop":
            return {"mask_generator": generator}
        from transformers_aasp import draw_mask_noise

        noise = draw_mask_noise(self.config, self.batch_size, self.frames, generator)
        noise = noise.pin_memory() if self.device.type == "cuda" else noise
        return {"noise": noise.to(self.device, non_blocking=True), "check_values": False}

    def forward_backward(self) -> torch.Tensor:
        non_blocking = self.path == "device_ready"
        values = self.host_values.to(self.device, non_blocking=non_blocking)
        mask = self.host_mask.to(self.device, non_blocking=non_blocking)
        with self.autocast:
            loss = self.model(values, attention_mask=mask, **self.mask_source()).loss
        loss.backward()
        return loss

    def __call__(self, census: DispatchCensus | None = None):
        loss = self.forward_backward()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        if self.path == "shipped_loop":
            bool(torch.isfinite(loss))  # the loop's per-step reads
            float(norm)
        # non-fused AdamW reads its step counters with .item(): CPU tensors on a GPU too, so no synchronisation
        if census is not None:
            census.count_syncs = False
        self.optimizer.step()
        if census is not None:
            census.count_syncs = True
        self.optimizer.zero_grad(set_to_none=True)
        if self.path == "shipped_loop":
            self.model.update_teacher(self.updates)
        else:
            self.ema.step(self.updates)
        self.updates += 1


def count_flops(step: LoopStep) -> int:
    """Matmul / attention / convolution FLOPs of one forward+backward."""
    counter = FlopCounterMode(display=False)
    with counter:
        step.forward_backward()
    step.optimizer.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def census(step: LoopStep) -> dict:
    """aten ops and synchronisations (with source lines) of one whole step."""
    with DispatchCensus() as counted:
        step(counted)
    lines = sorted({line for _, line in counted.syncs})
    return {"aten_ops_per_step": counted.ops, "syncs_per_step": len(counted.syncs), "sync_lines": lines}


def host_milliseconds(step: LoopStep, repeats: int) -> float:
    """Median time to issue one step, the device not waited for (on a CPU: the whole step)."""
    times = []
    for _ in range(repeats):
        synchronize(step.device)
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    synchronize(step.device)
    return 1e3 * statistics.median(times)


def measure(args) -> dict:
    paths = ["shipped_loop"] + (["device_ready"] if device_ready_api_available() else [])
    config = build_config(args.config, use_aape=not args.no_aape)
    steps = {path: LoopStep(config, args.batch_size, args.device, args.dtype, path) for path in paths}
    timings = interleaved_medians(steps, warmup=args.warmup, repeats=args.repeats, device=args.device)
    clones = config.num_mask_clones
    result = {
        "config": args.config,
        "use_aape": not args.no_aape,
        "batch_size": args.batch_size,
        "num_mask_clones": clones,
        "dtype": args.dtype,
        "device": args.device,
    }
    flops = count_flops(steps[paths[-1]])
    for path, step in steps.items():
        seconds = timings[path]["median_s"]
        host_ms = 1e3 * seconds if args.device == "cpu" else host_milliseconds(step, args.repeats)
        result[path] = {
            **timings[path],
            "host_ms_per_step": host_ms,
            **census(step),
            "clips_per_s": args.batch_size / seconds,
            "flops_per_step": flops,
            "achieved_tflops": flops / seconds / 1e12,
        }
        if args.device.startswith("cuda"):
            result[path]["mfu"] = flops / seconds / (args.peak_tflops * 1e12)
        row = result[path]
        print(
            f"{args.config} {path:12s} batch {args.batch_size} (M={clones}) on {args.device} {args.dtype}: "
            f"{1e3 * seconds:.1f} ms/step, host {host_ms:.1f} ms/step, {row['clips_per_s']:.2f} clips/s, "
            f"{row['aten_ops_per_step']} aten ops/step, {row['syncs_per_step']} syncs/step"
            + (f", MFU {100 * row['mfu']:.1f} %" if "mfu" in row else "")
            + f", load {load_average()}",
            flush=True,
        )
        for line in row["sync_lines"]:
            print(f"    sync at {line}")
    if len(paths) == 2:
        shipped, ready = result["shipped_loop"], result["device_ready"]
        result["ratios_shipped_over_device_ready"] = {
            key: shipped[key] / ready[key] if ready[key] else float("inf")
            for key in ("median_s", "host_ms_per_step", "aten_ops_per_step")
        }
        print(f"shipped / device-ready: {result['ratios_shipped_over_device_ready']}")
    return result


def base_flops_per_clip() -> int:
    """Counted FLOPs of one base-config (ViT-B, M = 8) forward+backward per clip, from a batch of one on the CPU."""
    return count_flops(LoopStep(build_config("base"), batch_size=1, device="cpu", dtype="fp32", path="shipped_loop"))


def projection(flops_per_clip: int, measured_mfu: float | None, peak_tflops: float) -> dict:
    """GPU-hours for 10 AudioSet-2M epochs at a given MFU, against EAT's 230 GPU-hours."""
    mfu = measured_mfu if measured_mfu is not None else MFU_TARGET
    total_flops = AUDIOSET_2M_CLIPS * EPOCHS * flops_per_clip
    gpu_hours = total_flops / (mfu * peak_tflops * 1e12) / 3600
    arithmetic = (
        f"{AUDIOSET_2M_CLIPS:,} clips x {EPOCHS} epochs x {flops_per_clip / 1e9:.1f} GFLOP/clip = "
        f"{total_flops:.3e} FLOP; / ({100 * mfu:.0f} % MFU x {peak_tflops:g} TFLOP/s) = "
        f"{gpu_hours:.1f} GPU-hours"
    )
    print(
        f"Projection ({'measured' if measured_mfu is not None else 'NOT measured: assumed'} MFU): {arithmetic} "
        f"vs EAT {EAT_GPU_HOURS:g} GPU-hours on RTX 3090s",
        flush=True,
    )
    return {
        "flops_per_clip_step": flops_per_clip,
        "clips": AUDIOSET_2M_CLIPS,
        "epochs": EPOCHS,
        "mfu": mfu,
        "mfu_measured": measured_mfu is not None,
        "peak_tflops": peak_tflops,
        "gpu_hours": gpu_hours,
        "eat_gpu_hours": EAT_GPU_HOURS,
        "arithmetic": arithmetic,
    }


def main(argv=None) -> None:
    args = parse_args(argv)
    payload = {"load_avg_start": load_average(), "throughput": measure(args)}
    if not args.skip_projection:
        fastest = payload["throughput"].get("device_ready", payload["throughput"]["shipped_loop"])
        base = args.config == "base" and not args.no_aape
        flops = fastest["flops_per_step"] // args.batch_size if base else base_flops_per_clip()
        measured = fastest.get("mfu") if base else None
        payload["projection_audioset_2m"] = projection(flops, measured, args.peak_tflops)
        payload["projection_audioset_2m_rtx3090"] = projection(flops, None, RTX3090_BF16_DENSE_TFLOPS)
    name = args.name or f"pretrain_throughput_{args.config}_{args.device.split(':')[0]}"
    print(f"-> {write_results(name, payload)}")


if __name__ == "__main__":
    main()
