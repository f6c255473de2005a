"""Finding tritonserver, building the mpirun command, and supervising the ranks."""
