"""Tensor parallelism across the MPI ranks tritonserver runs on (one tritonserver per rank).

Rank 0 serves requests; the continuous-batching loop broadcasts every new request and cancellation
from rank 0 to the others, so all ranks run identical steps with the model sharded by transformers'
`tp_plan="auto"`. Ranks > 0 never finish loading the model, so they never open their ports (that is
why the same ports on every rank do not collide) and they exit when rank 0 goes away.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch

from .settings import RuntimeSettings

logger = logging.getLogger("tritongen_torch")

DEFAULT_MASTER_ADDR = "127.0.0.1"
DEFAULT_MASTER_PORT = "29517"


@dataclass(frozen=True)
class World:
    """This process's rank and the number of ranks."""

    rank: int
    size: int
    local_rank: int

    @classmethod
    def from_environment(cls) -> World:
        """Open MPI's variables (mpirun), else torchrun's, else a single rank."""
        env = os.environ
        rank = int(env.get("OMPI_COMM_WORLD_RANK", env.get("RANK", "0")))
        size = int(env.get("OMPI_COMM_WORLD_SIZE", env.get("WORLD_SIZE", "1")))
        local_rank = int(env.get("OMPI_COMM_WORLD_LOCAL_RANK", env.get("LOCAL_RANK", str(rank))))
        return cls(rank=rank, size=size, local_rank=local_rank)


def initialize(world: World, settings: RuntimeSettings) -> None:
    """Join the process group of all ranks (gloo on CPU, NCCL on GPU) before the model is loaded."""
    use_cuda = settings.device == "cuda" or (settings.device == "auto" and torch.cuda.is_available())
    os.environ.setdefault("MASTER_ADDR", DEFAULT_MASTER_ADDR)
    os.environ.setdefault("MASTER_PORT", DEFAULT_MASTER_PORT)
    # transformers reads these when it shards the model.
    os.environ["RANK"], os.environ["WORLD_SIZE"] = str(world.rank), str(world.size)
    os.environ["LOCAL_RANK"] = str(world.local_rank)
    if use_cuda:
        torch.cuda.set_device(world.local_rank % torch.cuda.device_count())
    backend = "nccl" if use_cuda else "gloo"
    torch.distributed.init_process_group(backend=backend, rank=world.rank, world_size=world.size)
    logger.info("rank %d of %d joined the %s group", world.rank, world.size, backend)


def follow_forever(engine: Any, world: World) -> None:
    """Ranks > 0: follow rank 0's steps; when its loop ends (rank 0 went away), end this process."""
    logger.info("rank %d follows rank 0", world.rank)
    engine.follow()
    logger.warning("rank %d: rank 0 is gone, exiting", world.rank)
    os._exit(0)
