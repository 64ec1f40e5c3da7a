r"""Data-parallel training on :mod:`torch.distributed`: what every trainer needs from it.

Training runs data-parallel when it is called inside an initialised process group (``torchrun``
starts one per process; :func:`init_from_environment` joins it, ``gloo`` on CPUs and ``nccl``
on GPUs). The convention that makes :math:`N` processes with batch :math:`b` each equal to one
process with batch :math:`Nb`, step for step:

- every rank draws the *global* batch of :math:`Nb` indices from the same seeded generator and
  keeps its own share, rows :math:`[rb, (r + 1)b)` (:func:`share_of_draw`), so all ranks' random
  streams stay in step and together cover exactly what one process would draw;
- the training loop averages the gradients over the ranks after each backward pass (one
  all-reduce of the flattened gradients, as DistributedDataParallel does) and the loss values
  it logs, and takes every stop decision (time limit, Ctrl-C, callback, divergence) together;
- a loss that couples samples (exact OT, Sinkhorn) gathers the mapped points and targets of all
  ranks first (:func:`gather_with_grad`) and so couples the global batch;
- only rank 0 writes files and shows progress bars (:func:`is_main`).

Outside a process group every function here is the identity or a no-op, so the single-process
path is unchanged.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "all_reduce_max",
    "all_reduce_mean",
    "device",
    "broadcast_object",
    "gather",
    "gather_with_grad",
    "init_from_environment",
    "is_main",
    "leave",
    "share_of_draw",
    "world",
]


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process: ``(0, 1)`` outside a process group."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """Whether this process writes files and shows progress (rank 0, or no process group)."""
    return world()[0] == 0


def init_from_environment() -> bool:
    """Join the process group that ``torchrun`` describes in the environment (``WORLD_SIZE``
    above 1, ``RANK``, ``MASTER_ADDR``, ...), with ``nccl`` when this process has a GPU and
    ``gloo`` otherwise; a process with its own GPU uses the one of its ``LOCAL_RANK``. Returns
    whether a group is in use (already initialised, or joined now)."""
    dist = torch.distributed
    if not dist.is_available():
        return False
    if dist.is_initialized():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)
    return True


def device() -> torch.device:
    """Where the process group's small messages live: this process's GPU under ``nccl``, the
    CPU otherwise."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_max(value: int) -> int:
    """The largest ``value`` over the ranks (``value`` itself outside a process group)."""
    if world()[1] == 1:
        return value
    flag = torch.tensor([value], dtype=torch.int64, device=device())
    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
    return int(flag)


def share_of_draw(high: int, n: int, generator: torch.Generator | None) -> Tensor:
    """This rank's ``n`` of ``n * world_size`` indices drawn uniformly from ``[0, high)``:
    the same draw on every rank, so the shares are disjoint parts of one global batch (and
    one process draws exactly ``n`` indices, as :func:`torch.randint` would)."""
    rank, size = world()
    idx = torch.randint(high, (n * size,), generator=generator)
    return idx[rank * n : (rank + 1) * n] if size > 1 else idx


def all_reduce_mean(tensor: Tensor) -> Tensor:
    """The mean of ``tensor`` over the ranks, in place (unchanged outside a process group)."""
    _, size = world()
    if size > 1:
        torch.distributed.all_reduce(tensor)
        tensor /= size
    return tensor


def gather(tensor: Tensor) -> Tensor:
    """The ranks' ``tensor`` concatenated along the first axis, in rank order (no gradient)."""
    _, size = world()
    if size == 1:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(size)]
    torch.distributed.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)


def gather_with_grad(tensor: Tensor) -> Tensor:
    """:func:`gather`, differentiable: the backward pass sums the ranks' gradients of this
    rank's rows (so a loss every rank computes on the gathered batch gives, after the loop's
    gradient average, the gradient of that loss)."""
    if world()[1] == 1:
        return tensor
    return _GatherWithGrad.apply(tensor)


class _GatherWithGrad(torch.autograd.Function):
    """All-gather forward; backward: the sum over the ranks of the gathered gradient, this
    rank's rows (every rank holds the same number of rows)."""

    @staticmethod
    def forward(ctx: Any, tensor: Tensor) -> Tensor:
        ctx.rows, ctx.rank = tensor.shape[0], world()[0]
        return gather(tensor)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        total = grad.contiguous().clone()
        torch.distributed.all_reduce(total)
        return total[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def leave() -> None:
    """Wait for every rank, then leave the process group (a no-op outside one)."""
    if world()[1] > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (unchanged outside a process group)."""
    _, size = world()
    if size == 1:
        return obj
    box = [obj]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]
