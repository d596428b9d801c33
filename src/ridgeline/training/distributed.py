"""Data-parallel training over processes started by ``torchrun``: gloo on CPUs, NCCL on GPUs.

Every process holds the whole model and walks the same global batches (the order depends on
(seed, epoch) only); each computes its share of every batch, losses are normalised by the global
label counts, and gradients are summed across processes, so one optimizer step equals the
single-process step on the whole batch (up to the order of floating-point sums).
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank_and_world() -> tuple[int, int]:
    return (dist.get_rank(), dist.get_world_size()) if is_distributed() else (0, 1)


def init_from_environment(device: torch.device) -> torch.device:
    """Join the process group that torchrun describes (WORLD_SIZE > 1); returns this process's device."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not is_distributed():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over processes (a no-op in a single process); NCCL needs the tensor on the GPU."""
    if not is_distributed():
        return tensor
    if dist.get_backend() == "nccl" and tensor.device.type != "cuda":
        on_gpu = tensor.cuda()
        dist.all_reduce(on_gpu, op=dist.ReduceOp.SUM)
        return on_gpu.to(tensor.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def sum_gradients(parameters) -> None:
    """Sum gradients over processes in one flat buffer (a process with no share contributes zeros)."""
    if not is_distributed():
        return
    params = [p for p in parameters if p.requires_grad]
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def barrier() -> None:
    if is_distributed():
        dist.barrier()
