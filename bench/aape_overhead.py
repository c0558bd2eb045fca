#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""What does AaPE cost? AaSP base (AaSPConfig()) with use_aape=True vs use_aape=False.

    python -m bench.aape_overhead                        # batch 2 x 608 frames (the pre-training crop)
    python -m bench.aape_overhead --batch_size 4 --frames 1008 --repeats 5

1. Time: forward (eval, no_grad) and forward+backward (train mode, loss = mean of last_hidden_state), both models in
   this process on the same input, alternating, median of the repeats. Targets: AaPE <= 15 % slower.
2. Peak memory: each (model, mode) in a fresh subprocess: after a 32-frame warm-up pass (which loads kernels and
   libraries), peak RSS (VmHWM, reset before the pass) minus RSS before it (model and input resident), or the CUDA allocator's peak on a GPU. Target: <= 20 % more.
3. AaPE's share of the parameters, and of forward time at base size: forward hooks time the patch-embedding module
   and its parts (Lambda Encoder, aliasing features = high-pass + SBLU + pointwise).
4. The SBLU contraction alone (`modeling_aasp.apply_sblu`, the einsum on an unfolded view) against two equivalent
   formulations, forward and forward+backward, with the maximum difference of their outputs: the numbers behind an
   optimisation proposal (the model code itself is not changed here).
5. Part 1 again with `modeling_aasp.apply_sblu` replaced, inside this process only, by the fastest exact
   formulation: what the proposal would give the whole model (part 2 also measures that side's memory).
6. Building the SBLU kernels (`modeling_aasp.sblu_kernel`, one (taps,) kernel per patch, subband and kernel index),
   forward and forward+backward, against the product form it replaced (window x gain x carrier, kept here as the
   reference), alternating, with the maximum difference of the kernels.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from bench.common import (
    RESULTS_DIR,
    interleaved_medians,
    load_average,
    peak_rss_mib,
    ratio,
    reset_peak_rss,
    rss_mib,
    run_json_subprocess,
    write_results,
)


PARTS = ("time", "memory", "aape_share", "sblu_contraction", "time_with_proposed_contraction", "sblu_kernel_build")
TIME_TARGET = 1.15
MEMORY_TARGET = 1.20


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch_size", type=int, default=2)
    parser.add_argument("--frames", type=int, default=608, help="Frames per clip (608 = the pre-training crop).")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=PARTS,
        default=list(PARTS),
        help="Run only these parts; the others are kept from an existing results file.",
    )
    parser.add_argument("--memory_child", nargs=2, metavar=("SIDE", "MODE"), help=argparse.SUPPRESS)
    return parser.parse_args()


def build_model(use_aape: bool, device: str):
    from transformers_aasp import AaSPConfig, AaSPModel

    torch.manual_seed(0)
    return AaSPModel(AaSPConfig(use_aape=use_aape)).to(device)


def make_input(args) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(args.batch_size, args.frames, 80, generator=generator).to(args.device)


def forward_only(model, inputs):
    model.eval()
    with torch.no_grad():
        return model(inputs).last_hidden_state


def forward_backward(model, inputs):
    model.train()
    model.zero_grad(set_to_none=True)
    model(inputs).last_hidden_state.mean().backward()


MODES = {"forward": forward_only, "forward_backward": forward_backward}


# ---------------------------------------------------------------------------------------------------------------
# 1. time
# ---------------------------------------------------------------------------------------------------------------
def time_both(args) -> dict:
    models = {"aape": build_model(True, args.device), "no_aape": build_model(False, args.device)}
    inputs = make_input(args)
    result = {}
    for mode, step in MODES.items():
        timings = interleaved_medians(
            {name: (lambda m=model, step=step: step(m, inputs)) for name, model in models.items()},
            warmup=args.warmup,
            repeats=args.repeats,
            device=args.device,
        )
        slowdown = ratio(timings["aape"]["median_s"], timings["no_aape"]["median_s"])
        result[mode] = {**timings, "slowdown_aape_over_no_aape": slowdown, "target": TIME_TARGET}
        print(
            f"{mode:16s} AaPE {timings['aape']['median_s']:.3f} s, no AaPE {timings['no_aape']['median_s']:.3f} s: "
            f"x{slowdown:.3f} (target <= x{TIME_TARGET}), load {load_average()}",
            flush=True,
        )
    return result


# ---------------------------------------------------------------------------------------------------------------
# 2. memory (fresh process per side)
# ---------------------------------------------------------------------------------------------------------------
def memory_child(args) -> None:
    side, mode = args.memory_child
    if side == "aape_proposed":
        from transformers_aasp import modeling_aasp

        modeling_aasp.apply_sblu = sblu_matmul_contiguous  # this child process only
    model, inputs = build_model(side != "no_aape", args.device), make_input(args)
    MODES[mode](model, inputs[:1, :32])  # loads kernels and libraries, so that their memory is not counted
    if args.device == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    reset_peak_rss()
    rss_before = rss_mib()
    MODES[mode](model, inputs)
    if args.device == "cuda":
        torch.cuda.synchronize()
        peak = (torch.cuda.max_memory_allocated() - before) / 2**20
    else:
        peak = peak_rss_mib() - rss_before
    print(json.dumps({"peak_mib": round(peak, 1), "rss_before_mib": round(rss_before, 1)}))


def memory_both(args) -> dict:
    result = {
        "method": "fresh subprocess per side, 32-frame warm-up pass first; CPU: VmHWM (reset first) after the "
        "pass - VmRSS before it (weights, and gradients after the warm-up, are already resident); "
        "CUDA: max_memory_allocated - allocated before"
    }
    for mode in MODES:
        sides = {
            name: run_json_subprocess(
                [
                    "-m",
                    "bench.aape_overhead",
                    "--memory_child",
                    name,
                    mode,
                    "--batch_size",
                    str(args.batch_size),
                    "--frames",
                    str(args.frames),
                    "--device",
                    args.device,
                ]
            )
            for name in ("aape", "no_aape", "aape_proposed")
        }
        peaks = {name: side.get("peak_mib", float("nan")) for name, side in sides.items()}
        increase = ratio(peaks["aape"], peaks["no_aape"])
        result[mode] = {
            **sides,
            "increase_aape_over_no_aape": increase,
            "increase_aape_proposed_over_no_aape": ratio(peaks["aape_proposed"], peaks["no_aape"]),
            "target": MEMORY_TARGET,
            "load_avg": load_average(),
        }
        print(
            f"{mode:16s} peak memory AaPE {peaks['aape']} MiB, no AaPE {peaks['no_aape']} MiB: x{increase:.3f} "
            f"(target <= x{MEMORY_TARGET}); AaPE with the proposed SBLU contraction {peaks['aape_proposed']} MiB",
            flush=True,
        )
    return result


# ---------------------------------------------------------------------------------------------------------------
# 3. shares of parameters and forward time
# ---------------------------------------------------------------------------------------------------------------
def parameter_share(model) -> dict:
    stem = model.embeddings.patch_embeddings
    aape = sum(p.numel() for name, p in stem.named_parameters() if not name.startswith("projection."))
    total = sum(p.numel() for p in model.parameters())
    return {"aape_parameters": aape, "total_parameters": total, "aape_share": aape / total}


class ModuleTimer:
    """Wall time between a module's forward pre-hook and another (or the same) module's forward hook.

    `spans` maps a name to (first module, last module); one list of seconds per name.
    """

    def __init__(self, spans: dict):
        self.seconds = {name: [] for name in spans}
        self._start = {}
        for name, (first, last) in spans.items():
            first.register_forward_pre_hook(lambda *_, name=name: self._begin(name))
            last.register_forward_hook(lambda *_, name=name: self._end(name))

    def _begin(self, name):
        self._start[name] = time.perf_counter()

    def _end(self, name):
        self.seconds[name].append(time.perf_counter() - self._start[name])


def forward_time_share(args) -> dict:
    model = build_model(True, args.device).eval()
    inputs = make_input(args)
    stem = model.embeddings.patch_embeddings
    spans = {
        "patch_embeddings": (stem, stem),
        "lambda_encoder": (stem.lambda_encoder, stem.lambda_encoder),
        "aliasing_features": (stem.aliasing, stem.aliasing),
        "fusion": (stem.fusion, stem.fusion),
        "transformer_layers": (model.layers[0], model.layernorm),
    }
    timer = ModuleTimer(spans)
    totals = []
    with torch.no_grad():
        for _ in range(args.warmup + args.repeats):
            start = time.perf_counter()
            model(inputs)
            totals.append(time.perf_counter() - start)
    skip = args.warmup
    medians = {name: statistics.median(values[skip:]) for name, values in timer.seconds.items()}
    total = statistics.median(totals[skip:])
    shares = {name: seconds / total for name, seconds in medians.items()}
    print(
        f"AaPE share of forward time: patch embedding {100 * shares['patch_embeddings']:.1f} % (Lambda Encoder "
        f"{100 * shares['lambda_encoder']:.1f} %, aliasing features {100 * shares['aliasing_features']:.1f} %), "
        f"Transformer layers {100 * shares['transformer_layers']:.1f} %",
        flush=True,
    )
    return {
        "median_s": medians,
        "total_forward_s": total,
        "share_of_forward": shares,
        "load_avg": load_average(),
        **parameter_share(model),
    }


# ---------------------------------------------------------------------------------------------------------------
# 4. the SBLU contraction and two equivalent formulations
# ---------------------------------------------------------------------------------------------------------------
def sblu_matmul_contiguous(windows, kernel_re, kernel_im):
    """Same result as apply_sblu: materialise the (p_t, taps) frames once, then one batched matmul."""
    taps = kernel_re.shape[-1]
    frames = windows.unfold(-1, taps, 1).contiguous()  # (B, K, S, p_t, taps)
    kernels = torch.cat([kernel_re, kernel_im], dim=-2).to(frames.dtype)  # (B, K, S, 2H, taps)
    return torch.matmul(kernels, frames.transpose(-1, -2))  # (B, K, S, 2H, p_t)


def sblu_shifted_sum(windows, kernel_re, kernel_im):
    """Same result as apply_sblu without any gather: sum over the taps of shifted windows times one tap each."""
    taps = kernel_re.shape[-1]
    p_t = windows.shape[-1] - taps + 1
    kernels = torch.cat([kernel_re, kernel_im], dim=-2).to(windows.dtype)  # (B, K, S, 2H, taps)
    out = kernels[..., :1] * windows[..., None, 0:p_t]
    for m in range(1, taps):
        out = out + kernels[..., m : m + 1] * windows[..., None, m : m + p_t]
    return out


def sblu_inputs(args):
    from transformers_aasp import AaSPConfig
    from transformers_aasp.modeling_aasp import sblu_kernel

    config = AaSPConfig()
    num_patches = config.num_frequency_patches * (args.frames // config.time_patch_size)
    taps = 2 * config.sblu_half_length + 1
    generator = torch.Generator().manual_seed(0)
    shape = (args.batch_size, num_patches, config.num_subbands)
    windows = torch.randn(*shape, config.time_patch_size + taps - 1, generator=generator).to(args.device)
    alpha = (0.01 + torch.rand(*shape, config.num_kernels, generator=generator)).to(args.device)
    beta = (0.2 + 2.9 * torch.rand(*shape, config.num_kernels, generator=generator)).to(args.device)
    kernel_re, kernel_im = sblu_kernel(alpha, beta, config.sblu_half_length, "two_sided")
    return windows, kernel_re, kernel_im


def sblu_variants(args) -> dict:
    from transformers_aasp.modeling_aasp import apply_sblu

    windows, kernel_re, kernel_im = sblu_inputs(args)
    variants = {
        "apply_sblu (einsum on unfold view)": apply_sblu,
        "contiguous frames + matmul": sblu_matmul_contiguous,
        "shifted sum over taps": sblu_shifted_sum,
    }
    reference = apply_sblu(windows, kernel_re, kernel_im)
    result = {"shapes": {"windows": list(windows.shape), "kernel": list(kernel_re.shape)}}
    for name, fn in variants.items():
        result[name] = {
            "max_abs_diff_vs_apply_sblu": float((fn(windows, kernel_re, kernel_im) - reference).abs().max())
        }

    def train_step(fn):
        w, kr, ki = (t.detach().requires_grad_() for t in (windows, kernel_re, kernel_im))
        fn(w, kr, ki).square().mean().backward()

    for mode, call in (("forward", lambda fn: fn(windows, kernel_re, kernel_im)), ("forward_backward", train_step)):
        timings = interleaved_medians(
            {name: (lambda fn=fn, call=call: call(fn)) for name, fn in variants.items()},
            warmup=args.warmup,
            repeats=max(args.repeats, 5),
            device=args.device,
        )
        for name, timing in timings.items():
            result[name][mode] = timing
    base = "apply_sblu (einsum on unfold view)"
    for name in variants:
        for mode in ("forward", "forward_backward"):
            result[name][f"{mode}_speedup_vs_apply_sblu"] = ratio(
                result[base][mode]["median_s"], result[name][mode]["median_s"]
            )
        print(
            f"SBLU {name:36s} fwd {result[name]['forward']['median_s'] * 1e3:8.1f} ms, fwd+bwd "
            f"{result[name]['forward_backward']['median_s'] * 1e3:8.1f} ms, max |diff| "
            f"{result[name]['max_abs_diff_vs_apply_sblu']:.2e}",
            flush=True,
        )
    return result


def time_with_proposed_contraction(args) -> dict:
    """Part 1 again with `apply_sblu` swapped (in this process only) for the contiguous-matmul formulation."""
    from transformers_aasp import modeling_aasp

    original = modeling_aasp.apply_sblu
    modeling_aasp.apply_sblu = sblu_matmul_contiguous
    try:
        print("With the proposed SBLU contraction (contiguous frames + matmul):", flush=True)
        return time_both(args)
    finally:
        modeling_aasp.apply_sblu = original


# ---------------------------------------------------------------------------------------------------------------
# 6. building the SBLU kernels: the log-modulus/angle form (the model's) against the product form it replaced
# ---------------------------------------------------------------------------------------------------------------
def sblu_kernel_product_form(alpha, beta, half_length: int):
    """The two-sided, linear-carrier SBLU kernel as the model built it before: window * (gain * carrier), in parts."""
    offsets = torch.arange(-half_length, half_length + 1, device=alpha.device)
    sinh_re = torch.sinh(alpha / 2) * torch.cos(beta / 2)
    sinh_im = torch.cosh(alpha / 2) * torch.sin(beta / 2)
    norm = alpha**2 + beta**2
    gain_re = 2 * (sinh_re * alpha + sinh_im * beta) / norm
    gain_im = 2 * (sinh_im * alpha - sinh_re * beta) / norm
    envelope = torch.exp(-alpha[..., None] * offsets.abs())
    phase = beta[..., None] * offsets
    carrier_re, carrier_im = torch.cos(phase), -torch.sin(phase)
    kernel_re = envelope * (gain_re[..., None] * carrier_re - gain_im[..., None] * carrier_im)
    kernel_im = envelope * (gain_re[..., None] * carrier_im + gain_im[..., None] * carrier_re)
    return kernel_re, kernel_im


def sblu_kernel_build(args) -> dict:
    from transformers_aasp import AaSPConfig
    from transformers_aasp.modeling_aasp import sblu_kernel

    config = AaSPConfig()
    num_patches = config.num_frequency_patches * (args.frames // config.time_patch_size)
    generator = torch.Generator().manual_seed(0)
    shape = (args.batch_size, num_patches, config.num_subbands, config.num_kernels)
    alpha = (0.01 + torch.rand(*shape, generator=generator)).to(args.device)
    beta = (0.2 + 2.9 * torch.rand(*shape, generator=generator)).to(args.device)
    variants = {
        "sblu_kernel (log-modulus and angle)": lambda a, b: sblu_kernel(
            a, b, config.sblu_half_length, carrier="linear"
        ),
        "product form (before)": lambda a, b: sblu_kernel_product_form(a, b, config.sblu_half_length),
    }
    model_re, model_im = variants["sblu_kernel (log-modulus and angle)"](alpha, beta)
    before_re, before_im = variants["product form (before)"](alpha, beta)
    result = {
        "kernel_shape": list(model_re.shape),
        "max_abs_diff": float(torch.maximum((model_re - before_re).abs().max(), (model_im - before_im).abs().max())),
    }

    def train_step(fn):
        a, b = alpha.detach().requires_grad_(), beta.detach().requires_grad_()
        real, imag = fn(a, b)
        (real.square().mean() + imag.square().mean()).backward()

    for mode, call in (("forward", lambda fn: fn(alpha, beta)), ("forward_backward", train_step)):
        timings = interleaved_medians(
            {name: (lambda fn=fn, call=call: call(fn)) for name, fn in variants.items()},
            warmup=args.warmup,
            repeats=max(args.repeats, 5),
            device=args.device,
        )
        result[mode] = timings
        before, now = (
            timings[name]["median_s"] for name in ("product form (before)", "sblu_kernel (log-modulus and angle)")
        )
        result[f"{mode}_speedup"] = ratio(before, now)
        print(
            f"SBLU kernels {list(model_re.shape)}, {mode}: product form {before * 1e3:.1f} ms, sblu_kernel "
            f"{now * 1e3:.1f} ms: {result[f'{mode}_speedup']:.2f}x (max |diff| {result['max_abs_diff']:.1e})",
            flush=True,
        )
    return result


def main() -> None:
    args = parse_args()
    if args.memory_child:
        memory_child(args)
        return
    runners = {
        "time": time_both,
        "memory": memory_both,
        "aape_share": forward_time_share,
        "sblu_contraction": sblu_variants,
        "time_with_proposed_contraction": time_with_proposed_contraction,
        "sblu_kernel_build": sblu_kernel_build,
    }
    previous = RESULTS_DIR / "aape_overhead.json"
    payload = json.loads(previous.read_text()) if previous.is_file() and set(args.parts) != set(PARTS) else {}
    payload = {key: payload[key] for key in PARTS if key in payload}
    for part in args.parts:  # each part keeps its own geometry: a run of some parts keeps the others' results
        geometry = {"batch_size": args.batch_size, "frames": args.frames, "device": args.device}
        payload[part] = {**geometry, **runners[part](args)}
    print(f"-> {write_results('aape_overhead', payload)}")


if __name__ == "__main__":
    main()
