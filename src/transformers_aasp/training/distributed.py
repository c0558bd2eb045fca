# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Distributed-training plumbing kept out of the model files that ship as Hub remote code.

`AaSPForPreTraining` draws contrastive negatives from `model.gather_views`, which sees only the local views by
default; `use_cross_process_negatives(model)` makes it gather the views of every process, with gradients.
"""

import torch


class GatherWithGradient(torch.autograd.Function):
    """All-gather along dim 0 whose backward sends each process the summed gradient of its own slice."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        gathered = [torch.empty_like(tensor) for _ in range(torch.distributed.get_world_size())]
        torch.distributed.all_gather(gathered, tensor.contiguous())
        ctx.rank, ctx.rows = torch.distributed.get_rank(), tensor.shape[0]
        return torch.cat(gathered, dim=0)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        grad = grad_output.contiguous().clone()
        torch.distributed.all_reduce(grad)
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def gather_across_processes(tensor: torch.Tensor) -> tuple[torch.Tensor, int]:
    """All-gather (B, ...) from every process with gradients flowing to the local part; returns (W*B, ...), rank."""
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    if not distributed or torch.distributed.get_world_size() == 1:
        return tensor, 0
    return GatherWithGradient.apply(tensor), torch.distributed.get_rank()


def use_cross_process_negatives(model: torch.nn.Module) -> None:
    """Makes an `AaSPForPreTraining` (unwrapped) draw contrastive negatives from every process."""
    setattr(model, "gather_views", gather_across_processes)  # noqa: B010  (a plain attribute, not a submodule)
