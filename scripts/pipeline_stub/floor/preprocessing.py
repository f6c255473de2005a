"""A zero-cost preprocessing for the floor measurement: fixed token tensors, no tokenizer.

With it, the zero-cost postprocessing and BLS here, and scripts/pipeline_stub/model.py as the LLM,
`scripts/bench_pipeline_stub.sh --floor` measures what Triton itself spends per request on the
ensemble and BLS structure (HTTP, the ensemble scheduler, one Python-backend round trip per model):
the least any preprocessing/postprocessing pair can cost on this server.
"""

import json

import numpy as np
import triton_python_backend_utils as pb_utils

FIXED = {
    "INPUT_ID": [[1, 2, 3]],
    "REQUEST_INPUT_LEN": [[3]],
    "REQUEST_OUTPUT_LEN": [[1]],
    "OUT_END_ID": [[2]],
    "OUT_PAD_ID": [[2]],
    "STOP_WORDS_IDS": np.zeros((1, 2, 0)),
    "BAD_WORDS_IDS": np.zeros((1, 2, 0)),
    "EMBEDDING_BIAS": np.zeros((1, 0)),
}


class TritonPythonModel:
    def initialize(self, args):
        types = {o["name"]: o["data_type"] for o in json.loads(args["model_config"])["output"]}
        self.tensors = {
            name: np.asarray(value).astype(pb_utils.triton_string_to_numpy(types[name]))
            for name, value in FIXED.items()
            if name in types
        }

    def execute(self, requests):
        responses = []
        for request in requests:
            wanted = set(request.requested_output_names()) or set(self.tensors)
            tensors = [pb_utils.Tensor(n, v) for n, v in self.tensors.items() if n in wanted]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses
