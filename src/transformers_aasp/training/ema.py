# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The teacher's exponential moving average on float32 master weights, whatever dtype the backend keeps the model in."""

import torch
from torch import nn

from ..functional_aasp import annealed_decay


def ema_precision_problem(teacher: nn.Module, fp32_masters: bool = True) -> str | None:
    """Why the teacher's EMA would be wrong under the current backend and precision, or None when it is sound: a
    teacher partitioned across processes (DeepSpeed ZeRO-3) has no whole parameters to keep masters of; without
    `fp32_masters` (`AaSPForPreTraining.update_teacher`), a teacher held below float32 (DeepSpeed in bf16 or fp16
    casts the whole model) cannot take steps of 1 - decay (1e-4 to 1e-5) and silently stops moving."""
    for name, param in teacher.named_parameters():
        if hasattr(param, "ds_id") or param.numel() == 0:
            return (
                f"the teacher's parameter {name} is partitioned across processes (DeepSpeed ZeRO-3), so its EMA "
                "cannot keep float32 master weights; use DDP, FSDP or DeepSpeed ZeRO-2."
            )
        if not fp32_masters and param.dtype != torch.float32:
            return (
                f"the teacher is held in {param.dtype} (the backend casts the whole model, as DeepSpeed does in mixed "
                "precision): EMA steps of 1 - decay are below its resolution and the teacher stops moving; update it "
                "with transformers_aasp.training.ema.TeacherEMA (float32 masters)."
            )
    return None


class TeacherEMA:
    """EMA teacher on float32 master weights: teacher <- decay * teacher + (1 - decay) * student.

    `teacher` and `student`: modules with the same parameters in the same order (`AaSPForPreTraining.teacher` and
    `.aasp`), in any dtype; FSDP2 parameters are updated shard by shard.
    The masters start as float32 copies of the teacher's parameters, or are those parameters when float32 already
    (then a step equals `AaSPForPreTraining.update_teacher` exactly). A partitioned teacher raises a ValueError
    (`ema_precision_problem`).

    `step(step_index) -> decay`, after optimizer step `step_index` (0-based): one `torch._foreach_lerp_` moves the
    masters towards the student by 1 - decay, then the masters are written into the teacher in its dtype. The decay
    rises linearly from `decay_start` to `decay_end` over `anneal_steps` steps (`decay(step_index)`).

    `state_dict()` -> {"masters.<parameter name>": float32 tensor}; `load_state_dict(state)` restores the masters and
    the teacher. Register the object for checkpointing (Accelerate's `register_for_checkpointing`): a resumed run
    continues bit for bit.
    """

    def __init__(
        self, teacher: nn.Module, student: nn.Module, decay_start: float, decay_end: float, anneal_steps: int
    ):
        problem = ema_precision_problem(teacher)
        if problem is not None:
            raise ValueError(f"Cannot keep the teacher's EMA: {problem}")
        local = [(name, p.to_local() if hasattr(p, "to_local") else p) for name, p in teacher.named_parameters()]
        self.names, self.teacher = [name for name, _ in local], [param for _, param in local]
        self.student = [p.to_local() if hasattr(p, "to_local") else p for p in student.parameters()]
        if [p.shape for p in self.teacher] != [p.shape for p in self.student]:
            raise ValueError("The teacher and the student must have the same parameters in the same order.")
        self.shares_teacher = all(param.dtype == torch.float32 for param in self.teacher)
        with torch.no_grad():
            self.masters = self.teacher if self.shares_teacher else [p.detach().float().clone() for p in self.teacher]
        self.decay_start, self.decay_end, self.anneal_steps = decay_start, decay_end, anneal_steps

    def decay(self, step_index: int) -> float:
        return annealed_decay(step_index, self.decay_start, self.decay_end, self.anneal_steps)

    @torch.no_grad()
    def step(self, step_index: int) -> float:
        decay = self.decay(step_index)
        torch._foreach_lerp_(self.masters, [param.float() for param in self.student], 1.0 - decay)  # no_grad
        if not self.shares_teacher:
            torch._foreach_copy_(self.teacher, self.masters)
        return decay

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {f"masters.{name}": m.detach().clone() for name, m in zip(self.names, self.masters, strict=True)}

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        expected = [f"masters.{name}" for name in self.names]
        if set(state) != set(expected):
            missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
            raise ValueError(
                f"EMA state does not match the teacher: missing {missing[:3]}, unexpected {unexpected[:3]}."
            )
        torch._foreach_copy_(self.masters, [state[key].float() for key in expected])
        if not self.shares_teacher:
            torch._foreach_copy_(self.teacher, self.masters)


__all__ = ["TeacherEMA", "ema_precision_problem"]
