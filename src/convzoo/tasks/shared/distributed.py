"""Single-process or torchrun (DistributedDataParallel) execution, behind one interface.

Under `torchrun --nproc_per_node N` the environment carries RANK/WORLD_SIZE;
we join the process group (nccl on GPU, gloo on CPU) and wrap the model in
DDP. Only rank 0 logs and writes files.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    initialised: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def log(self, message: str) -> None:
        if self.is_main:
            print(message, file=sys.stderr, flush=True)

    def wrap(self, model: nn.Module) -> nn.Module:
        """DDP around `model` for this epoch's trainable parameters. Re-wrapped
        each epoch because gradual unfreezing changes which parameters train,
        and DDP fixes its set of synchronised parameters when it is built."""
        if self.world_size == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=False)

    def broadcast_flag(self, flag: bool) -> bool:
        """Rank 0's decision, made everyone's (best epoch, early stop)."""
        if self.world_size == 1:
            return bool(flag)
        t = torch.tensor([1 if flag else 0], device=self.device if self.device.type == "cuda" else "cpu")
        dist.broadcast(t, src=0)
        return bool(t.item())

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def close(self) -> None:
        if self.initialised and dist.is_initialized():
            dist.destroy_process_group()


def init_distributed(device: str = "auto") -> DistContext:
    from .device import resolve_device

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank if world_size > 1 else (dev.index or 0))
        torch.cuda.set_device(dev)
    ctx = DistContext(rank, world_size, local_rank, dev)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        ctx.initialised = True
    return ctx
