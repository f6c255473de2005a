"""Golden render cases, snapshots and protobuf parsing for tests: `tritongen.testing.render_cases`.

Kept under this name so test modules import it as they always have; the code lives in the package so
that scripts use it without putting tests/ on sys.path.
"""

from tritongen.testing.render_cases import (
    GOLDEN_CASES,
    GOLDEN_DIR,
    TREE_FILE,
    Case,
    make_checkpoint_dir,
    parameters,
    parse_config,
    read_golden,
    render_case,
    snapshot,
    tokenizer_dir,
    tree,
    write_golden,
)

__all__ = [
    "GOLDEN_CASES",
    "GOLDEN_DIR",
    "TREE_FILE",
    "Case",
    "make_checkpoint_dir",
    "parameters",
    "parse_config",
    "read_golden",
    "render_case",
    "snapshot",
    "tokenizer_dir",
    "tree",
    "write_golden",
]
