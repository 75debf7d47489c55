"""Multi-process training with torchrun and DistributedDataParallel.

torchrun starts one process per GPU and sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
MASTER_PORT. `init_distributed` reads them (a plain `python train.py` is a world of one), picks
NCCL on CUDA and gloo on CPU, and pins each process to its GPU. Each rank then draws its own
disjoint slice of every task's sample order (see data_pipeline), and only rank 0 writes logs and
checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistributedContext:
    """Rank, world size and device of this process."""

    rank: int
    """Global rank, 0..world_size-1."""
    world_size: int
    """Number of processes."""
    local_rank: int
    """Rank on this machine; the GPU index on CUDA."""
    device: torch.device
    """Device this process trains on."""

    @property
    def is_main(self) -> bool:
        """True on rank 0, the process that logs and writes checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when a process group with more than one member is running."""
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise ValueError(f'environment variable {name}={text!r} must be an integer (torchrun sets it)') from None


def init_distributed(device: str = 'auto', backend: str | None = None) -> DistributedContext:
    """Set up this process from the torchrun variables; a missing WORLD_SIZE means one process.

    `device` is 'auto' (CUDA when available), 'cuda' or 'cpu'. The backend defaults to NCCL on CUDA
    and gloo on CPU.
    """
    world_size = _env_int('WORLD_SIZE', 1)
    rank = _env_int('RANK', 0)
    local_rank = _env_int('LOCAL_RANK', 0)
    if not 0 <= rank < world_size:
        raise ValueError(f'RANK={rank} is outside 0..WORLD_SIZE-1 = 0..{world_size - 1}')

    if device not in ('auto', 'cuda', 'cpu'):
        raise ValueError(f"device must be 'auto', 'cuda' or 'cpu', got {device!r}")
    use_cuda = torch.cuda.is_available() if device == 'auto' else device == 'cuda'
    if use_cuda:
        if not torch.cuda.is_available():
            raise RuntimeError('device cuda was requested but torch.cuda.is_available() is False')
        torch.cuda.set_device(local_rank)
        target = torch.device('cuda', local_rank)
    else:
        target = torch.device('cpu')

    if world_size > 1 and not dist.is_initialized():
        # FACEPTOR_DIST_INIT_METHOD (for example file:///tmp/store) replaces torchrun's env:// rendezvous,
        # whose TCPStore in torch 1.13 listens on every interface; tests use a file store instead.
        init_method = os.environ.get('FACEPTOR_DIST_INIT_METHOD') or None
        dist.init_process_group(
            backend=backend or ('nccl' if use_cuda else 'gloo'), init_method=init_method, rank=rank, world_size=world_size
        )
    return DistributedContext(rank, world_size, local_rank, target)


def wrap_model(model: nn.Module, ctx: DistributedContext, fp16_gradients: bool = False) -> nn.Module:
    """Wrap `model` in DDP when the world has more than one process; otherwise return it unchanged.

    find_unused_parameters is on because some parameters never get gradients (the encoder's unused
    ln_post and proj, and in stage 2 every head but the trained task's). `fp16_gradients` adds
    the fp16 compression hook of the official runs (CUDA only).
    """
    if not ctx.distributed:
        return model
    device_ids = [ctx.local_rank] if ctx.device.type == 'cuda' else None
    wrapped = nn.parallel.DistributedDataParallel(model, device_ids=device_ids, broadcast_buffers=False, find_unused_parameters=True)
    if fp16_gradients:
        from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import fp16_compress_hook
        wrapped.register_comm_hook(None, fp16_compress_hook)
    return wrapped


def all_ranks_true(flag: bool, ctx: DistributedContext) -> bool:
    """True when `flag` is True on every rank (one all-reduce; a plain bool on a single process)."""
    if not ctx.distributed:
        return flag
    value = torch.tensor([1 if flag else 0], dtype=torch.int32, device=ctx.device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def barrier(ctx: DistributedContext) -> None:
    """Wait for every rank (no-op on one process)."""
    if ctx.distributed:
        dist.barrier()


def shutdown(ctx: DistributedContext) -> None:
    """Destroy the process group if this process started one."""
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()
