# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The teacher's exponential moving average on float32 master weights, whatever dtype the backend keeps the model in."""

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers.utils import logging

from ..functional_aasp import annealed_decay


logger = logging.get_logger(__name__)

MASTERS_FILE = "ema_masters.safetensors"  # in a checkpoint folder, when the masters are copies of the teacher


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


def local_tensor(param: torch.Tensor) -> torch.Tensor:
    """This process's shard of an FSDP2 (DTensor) parameter, or the parameter itself."""
    to_local = getattr(param, "to_local", None)
    return to_local() if to_local is not None else param


class TeacherEMA:
    """EMA teacher on float32 master weights: teacher <- decay * teacher + (1 - decay) * student.

    `teacher` and `student`: modules with the same parameters in the same order (`AaSPForPreTraining.teacher` and
    `.aasp`), in any dtype; FSDP2 parameters are updated shard by shard.
    The masters start as float32 copies of the teacher's parameters, or are those parameters when float32 already
    (then a step equals `AaSPForPreTraining.update_teacher` exactly). A partitioned teacher raises a ValueError
    (`ema_precision_problem`).

    `step(step_index, weight=None) -> decay`, after optimizer step `step_index` (0-based): one `torch._foreach_lerp_`
    moves the masters towards the student by 1 - decay, then the masters are written into the teacher in its dtype.
    `weight`, a () tensor on the device (e.g. "the optimizer step was applied", 0 or 1), scales the move without a
    host read. The decay rises linearly from `decay_start` to `decay_end` over `anneal_steps` steps (`decay`).

    `state_dict()` -> {"masters.<parameter name>": float32 tensor}; `load_state_dict(state)` restores the masters and
    the teacher. `save(folder)` / `load(folder)` keep them in a checkpoint as `ema_masters.safetensors` when they are
    copies (a teacher held below float32), so a resumed run continues bit for bit.
    """

    def __init__(
        self, teacher: nn.Module, student: nn.Module, decay_start: float, decay_end: float, anneal_steps: int
    ):
        problem = ema_precision_problem(teacher)
        if problem is not None:
            raise ValueError(f"Cannot keep the teacher's EMA: {problem}")
        self.names = [name for name, _ in teacher.named_parameters()]
        self.teacher: list[torch.Tensor] = [local_tensor(param) for param in teacher.parameters()]
        self.student: list[torch.Tensor] = [local_tensor(param) for param in student.parameters()]
        if [p.shape for p in self.teacher] != [p.shape for p in self.student]:
            raise ValueError("The teacher and the student must have the same parameters in the same order.")
        self.shares_teacher = all(param.dtype == torch.float32 for param in self.teacher)
        with torch.no_grad():
            copies = [param.detach().float().clone() for param in self.teacher]
            self.masters: list[torch.Tensor] = self.teacher if self.shares_teacher else copies
        self.decay_start, self.decay_end, self.anneal_steps = decay_start, decay_end, anneal_steps

    def decay(self, step_index: int) -> float:
        return annealed_decay(step_index, self.decay_start, self.decay_end, self.anneal_steps)

    @torch.no_grad()
    def step(self, step_index: int, weight: torch.Tensor | None = None) -> float:
        decay = self.decay(step_index)
        student = [param.float() for param in self.student]
        if weight is None:
            torch._foreach_lerp_(self.masters, student, 1.0 - decay)
        else:  # masters += weight * (1 - decay) * (student - masters), the weight staying on the device
            move = torch._foreach_sub(student, self.masters)
            torch._foreach_mul_(move, weight.float() * (1.0 - decay))
            torch._foreach_add_(self.masters, move)
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

    def save(self, folder: str | Path) -> None:
        """Writes the masters into a checkpoint `folder` when they are copies (the teacher holds them otherwise)."""
        if not self.shares_teacher:
            save_file(
                {key: value.contiguous() for key, value in self.state_dict().items()}, Path(folder) / MASTERS_FILE
            )

    def load(self, folder: str | Path) -> None:
        """Restores the masters saved by `save` in `folder` (after the teacher's weights were loaded from it);
        without the file, copies restart from the loaded teacher, with a warning."""
        path = Path(folder) / MASTERS_FILE
        if path.is_file():
            self.load_state_dict(load_file(str(path), device=str(self.masters[0].device)))
        elif not self.shares_teacher:
            logger.warning(f"{folder} holds no {MASTERS_FILE}: the EMA masters restart from its teacher weights.")
            self.load_state_dict(
                {f"masters.{name}": param for name, param in zip(self.names, self.teacher, strict=True)}
            )


__all__ = ["MASTERS_FILE", "TeacherEMA", "ema_precision_problem"]
