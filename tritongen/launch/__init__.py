"""Finding tritonserver, building the mpirun command, and supervising the ranks.

server.py (find tritonserver) → repository.py (world size, TRT-LLM models) → plan.py (options →
resolved command, all checks) → command.py (the pure argv) → supervise.py (run, watch, tear down),
with control.py (`status`/`stop` from another shell), state.py, procs.py, logs.py, preflight.py,
and cluster.py (Slurm and LeaderWorkerSet files).
"""
