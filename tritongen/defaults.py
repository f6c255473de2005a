"""Every default a user can see, in one place: the CLI's option defaults and the library's read these.

Before this module each value was typed where it was used (the ports in `launch/command.py` and again
in the click options, the grace period in three places, "model_repos" in two), and the README's
synopses drifted from them. A value that changes here changes in `--help`, in `docs/cli.md`
(generated from `--help`), in the library's dataclasses and in the cluster launch files together.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

# -- the server tritongen starts (`launch`, `status`, `stop`, the cluster files) -----------------------------

HTTP_PORT: Final = 8000
"""tritonserver's own default HTTP port: clients and docs written for Triton work unchanged."""

GRPC_PORT: Final = 8001
"""tritonserver's own default gRPC port."""

METRICS_PORT: Final = 8002
"""tritonserver's own default metrics (Prometheus) port."""

BIND_HOST: Final = "127.0.0.1"
"""Loopback: a launch serves only this machine until the user opts in with `--host 0.0.0.0`."""

GRACE_PERIOD_S: Final = 10.0
"""Seconds a stopping server gets to finish in-flight requests before SIGKILL: long enough for a
short generation to complete, short enough that Ctrl-C still feels immediate."""

READY_TIMEOUT_S: Final = 900.0
"""Seconds `launch` waits for readiness: a large engine loading from network storage onto several
GPUs can take many minutes; a server that is not ready after 15 minutes is stuck."""

GPUS_PER_NODE: Final = 8
"""GPUs per node in the Slurm/Kubernetes files: the usual HGX/DGX node (and TensorRT-LLM's own
`Mapping` default)."""

# -- clients of a running server (`infer`, `bench`) -------------------------------------------------------

SERVER_URL: Final = f"http://{BIND_HOST}:{HTTP_PORT}"
"""Where `launch` serves by default, so `infer` and `bench` need no flag after a plain launch."""

MODEL: Final = "ensemble"
"""The model every rendered repository serves the whole pipeline (text in, text out) under."""

MAX_TOKENS: Final = 64
"""Output tokens per request: a full sentence or two, quick even on a CPU deployment."""

REQUEST_TIMEOUT_S: Final = 600.0
"""Seconds one request may take: generous, because the first request to a cold server (or a long
answer from a CPU deployment) is slow; a request past ten minutes is stuck, not slow."""

BENCH_CONCURRENCY: Final = (1, 2, 4, 8, 16, 32)
"""`bench`'s sweep: powers of two from one stream to the batch sizes engines are commonly built for."""

BENCH_WARMUP_REQUESTS: Final = 4
"""Unmeasured requests before each level: enough to open the connections and wake every model."""

BENCH_ENDPOINT: Final = "generate_stream"
"""Streaming, because only a stream shows time to first token and inter-token latency."""

BENCH_CLIENT: Final = "asyncio"
"""The lighter load driver (one aiohttp session): the client's own CPU disturbs the figures less."""

# -- files ----------------------------------------------------------------------------------------------

REPOS_DIR: Final = Path("model_repos")
"""Where `render` writes (model_repos/<engine name>) and where `launch` without REPO looks, relative
to the working directory: the layout of the upstream tensorrtllm_backend examples."""

MANIFEST_NAME: Final = "tritongen.json"
"""The provenance file at a rendered repository's root (`explain`, `check` and `launch` read it)."""

CACHE_DIR_ENV: Final = "TRITONGEN_CACHE_DIR"
"""Moves the per-user cache (tests point it at a temporary directory)."""


def cache_dir() -> Path:
    """tritongen's per-user cache: $TRITONGEN_CACHE_DIR, else $XDG_CACHE_HOME/tritongen (~/.cache/tritongen).

    It holds what is expensive to rebuild and safe to delete: the prepared Python-backend directory,
    the example checkpoint and launch state files.
    """
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tritongen"
