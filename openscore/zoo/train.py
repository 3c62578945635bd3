"""Real optimizer steps on real text: how zoo bases learn and derivatives drift from them.

Every run is single-threaded with deterministic algorithms and seeds for init and data order,
so the same recipe gives the same weights (and the cache can trust a recipe's key).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from openscore.zoo.corpus import batches


@dataclass(frozen=True)
class Schedule:
    steps: int
    lr: float
    seed: int
    weight_decay: float = 0.01
    warmup: int = 10
    seq_len: int = 64
    batch_size: int = 16


@contextlib.contextmanager
def deterministic():
    """One thread and deterministic kernels for the duration; the caller's settings come back after."""
    threads, strict = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(strict)


def fit(model: nn.Module, ids: np.ndarray, schedule: Schedule, params: list[nn.Parameter] | None = None) -> float:
    """AdamW next-token training of `params` (default: all); returns the last batch's loss."""
    params = list(model.parameters()) if params is None else params
    optimizer = torch.optim.AdamW(params, lr=schedule.lr, weight_decay=schedule.weight_decay, betas=(0.9, 0.95))
    warmup = max(1, min(schedule.warmup, schedule.steps))
    lr_at = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
    model.train()
    loss = torch.tensor(float("nan"))
    stream = batches(ids, seq_len=schedule.seq_len, batch_size=schedule.batch_size, steps=schedule.steps, seed=schedule.seed)
    for inputs, targets in stream:
        logits = model(torch.from_numpy(inputs))
        loss = F.cross_entropy(logits.flatten(0, 1), torch.from_numpy(targets).flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        lr_at.step()
    model.eval()
    return float(loss.detach())


class LoRA:
    """Low-rank adapters on named nn.Linear modules (PEFT's layout: A [r, in], B [out, r], B starts at 0)."""

    def __init__(self, model: nn.Module, targets: tuple[str, ...], rank: int, alpha: float, seed: int):
        torch.manual_seed(seed)
        self.scale = alpha / rank
        self.rank, self.alpha, self.targets = rank, alpha, targets
        self.modules: dict[str, nn.Linear] = {
            name: m for name, m in model.named_modules() if isinstance(m, nn.Linear) and name.rsplit(".", 1)[-1] in targets
        }
        self.a: dict[str, nn.Parameter] = {}
        self.b: dict[str, nn.Parameter] = {}
        for p in model.parameters():
            p.requires_grad_(False)
        self._hooks = []
        for name, module in self.modules.items():
            a = nn.Parameter(torch.empty(rank, module.in_features))
            nn.init.kaiming_uniform_(a, a=5**0.5)
            b = nn.Parameter(torch.zeros(module.out_features, rank))
            self.a[name], self.b[name] = a, b
            self._hooks.append(module.register_forward_hook(self._hook(a, b)))

    def _hook(self, a: nn.Parameter, b: nn.Parameter):
        return lambda module, inputs, output: output + self.scale * (inputs[0] @ a.T @ b.T)

    def parameters(self) -> list[nn.Parameter]:
        return [p for name in self.modules for p in (self.a[name], self.b[name])]

    def adapter_state(self) -> dict[str, torch.Tensor]:
        """Tensors as PEFT saves them in adapter_model.safetensors."""
        state = {}
        for name in self.modules:
            state[f"base_model.model.{name}.lora_A.weight"] = self.a[name].detach().clone()
            state[f"base_model.model.{name}.lora_B.weight"] = self.b[name].detach().clone()
        return state

    def merge(self) -> None:
        """W += (alpha / r)·B·A, then the hooks go: the model is a plain merged checkpoint."""
        for hook in self._hooks:
            hook.remove()
        with torch.no_grad():
            for name, module in self.modules.items():
                module.weight += self.scale * (self.b[name] @ self.a[name])
