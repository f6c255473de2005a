"""Engine directories, engine configs, tokenizers and checkpoints for tests: `tritongen.testing.engines`.

Kept under this name so test modules import it as they always have; the code lives in the package so
that scripts use it without putting tests/ on sys.path.
"""

from tritongen.testing.engines import (
    CORPUS_DIR,
    CORPUS_ENGINES,
    SPECULATIVE_MODE_FLAGS,
    SYNTHETIC_DIR,
    corpus_config,
    corpus_engine_dir,
    delete_key,
    legacy_config,
    make_engine_dir,
    make_hf_checkpoint,
    make_tokenizer_dir,
    modern_config,
    rank_file_names,
    set_key,
    trtllm_build_config,
    write_rank_files,
)

__all__ = [
    "CORPUS_DIR",
    "CORPUS_ENGINES",
    "SPECULATIVE_MODE_FLAGS",
    "SYNTHETIC_DIR",
    "corpus_config",
    "corpus_engine_dir",
    "delete_key",
    "legacy_config",
    "make_engine_dir",
    "make_hf_checkpoint",
    "make_tokenizer_dir",
    "modern_config",
    "rank_file_names",
    "set_key",
    "trtllm_build_config",
    "write_rank_files",
]
