# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The teacher's exponential moving average on float32 master weights, whatever dtype the backend keeps the model in."""

import torch
from torch import nn

from ..functional_aasp import annealed_decay


def local_tensors(parameters: list[torch.Tensor]) -> list[torch.Tensor]:
    """The local shards of FSDP2 DTensor parameters (plain tensors are their own shard): foreach kernels over
    DTensors fall back to one dispatch per tensor."""
    return [param.to_local() if hasattr(param, "to_local") else param for param in parameters]


def ema_precision_problem(teacher: nn.Module, fp32_masters: bool = True) -> str | None:
    """Why the teacher's EMA would be wrong under the current backend and precision, or None when it is sound.

    With `fp32_masters` (`TeacherEMA`): a teacher partitioned across processes (DeepSpeed ZeRO-3) has no whole
    parameters to keep masters of. Without (`AaSPForPreTraining.update_teacher`): also a teacher held below float32
    (DeepSpeed bf16 or fp16 casts the whole module), where a step of 1 - decay (1e-4 to 1e-5) is below the dtype's
    resolution and the teacher silently stops moving.
    """
    for name, param in teacher.named_parameters():
        if hasattr(param, "ds_id") or param.numel() == 0:
            return (
                f"the teacher's parameter {name} is partitioned across processes (DeepSpeed ZeRO-3), so its EMA "
                "cannot keep float32 master weights; use DDP, FSDP or DeepSpeed ZeRO-2."
            )
        if not fp32_masters and param.dtype != torch.float32:
            return (
                f"the teacher is held in {param.dtype} (the backend casts the whole model, as DeepSpeed does in "
                "mixed precision): an EMA step of 1 - decay is below its resolution and the teacher stops moving; "
                "update it with transformers_aasp.training.ema.TeacherEMA (float32 masters)."
            )
    return None


class TeacherEMA:
    """EMA teacher on float32 master weights: teacher <- decay * teacher + (1 - decay) * student.

    `TeacherEMA(teacher, student, decay_start, decay_end, anneal_steps)`: `teacher` and `student` are modules with
    the same parameters in the same order (`AaSPForPreTraining.teacher` and `.aasp`), in any dtype. The masters
    start as float32 copies of the teacher's parameters; when those are float32 already, the masters are the
    parameters themselves (no copy), and a step equals `AaSPForPreTraining.update_teacher` exactly. Raises a
    ValueError when the teacher is partitioned across processes (`ema_precision_problem`).

    `step(step_index) -> decay`: after optimizer step `step_index` (0-based), one `torch._foreach_lerp_` moves the
    masters towards the student (cast to float32) by 1 - decay, and the masters are written into the teacher's
    parameters in the teacher's dtype. The decay rises linearly from `decay_start` to `decay_end` over
    `anneal_steps` steps (`decay(step_index)`), so training code can feed the schedule from its recipe.

    `state_dict()` -> {"masters.<parameter name>": float32 tensor}; `load_state_dict(state)` restores the masters and
    writes them into the teacher: register the object for checkpointing (Accelerate's
    `register_for_checkpointing`) and a resumed run continues bit for bit.
    """

    def __init__(
        self, teacher: nn.Module, student: nn.Module, decay_start: float, decay_end: float, anneal_steps: int
    ):
        problem = ema_precision_problem(teacher)
        if problem is not None:
            raise ValueError(f"Cannot keep the teacher's EMA: {problem}")
        named = list(teacher.named_parameters())
        self.names = [name for name, _ in named]
        self.teacher = local_tensors([param for _, param in named])
        self.student = local_tensors(list(student.parameters()))
        if [tuple(p.shape) for p in self.teacher] != [tuple(p.shape) for p in self.student]:
            raise ValueError("The teacher and the student must have the same parameters in the same order.")
        self.shares_teacher = all(param.dtype == torch.float32 for param in self.teacher)
        with torch.no_grad():
            self.masters = self.teacher if self.shares_teacher else [p.detach().float().clone() for p in self.teacher]
        self.decay_start, self.decay_end, self.anneal_steps = decay_start, decay_end, anneal_steps

    def decay(self, step_index: int) -> float:
        """EMA decay after optimizer step `step_index`."""
        return annealed_decay(step_index, self.decay_start, self.decay_end, self.anneal_steps)

    @torch.no_grad()
    def write_teacher(self) -> None:
        """Copy the masters into the teacher's parameters, in the teacher's dtype."""
        if not self.shares_teacher:
            torch._foreach_copy_(self.teacher, self.masters)

    @torch.no_grad()
    def step(self, step_index: int) -> float:
        """One EMA update after optimizer step `step_index`; returns the decay used."""
        decay = self.decay(step_index)
        student = [param.detach().float() for param in self.student]
        torch._foreach_lerp_(self.masters, student, 1.0 - decay)
        self.write_teacher()
        return decay

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {
            f"masters.{name}": master.detach().clone() for name, master in zip(self.names, self.masters, strict=True)
        }

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        expected = {f"masters.{name}" for name in self.names}
        if set(state) != expected:
            missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
            raise ValueError(
                f"EMA state does not match the teacher: missing {missing[:3]}, unexpected {unexpected[:3]}."
            )
        torch._foreach_copy_(self.masters, [state[f"masters.{name}"].float() for name in self.names])
        self.write_teacher()


__all__ = ["TeacherEMA", "ema_precision_problem"]
