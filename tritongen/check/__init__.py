"""`tritongen check`: any model repository (rendered or hand-made) judged against Triton and the backend."""

from tritongen.check.validate import check_repository, parse_model_config

__all__ = ["check_repository", "parse_model_config"]
