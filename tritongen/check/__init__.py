"""`tritongen check`: any model repository (rendered or hand-made) judged against Triton and the backend
release it was written for, each finding with its consequence."""

from tritongen.check._findings import CONSEQUENCES, Consequence, Finding, Findings, Report
from tritongen.check.validate import check_repository, parse_model_config
from tritongen.check.versions import AssumedVersion

__all__ = [
    "CONSEQUENCES",
    "AssumedVersion",
    "Consequence",
    "Finding",
    "Findings",
    "Report",
    "check_repository",
    "parse_model_config",
]
