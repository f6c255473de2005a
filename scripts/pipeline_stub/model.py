"""A zero-cost `tensorrt_llm`: answers every request at once with one token (the prompt's last id).

`scripts/bench_pipeline_stub.sh` puts it in place of a rendered repository's tensorrt_llm model, so
that what the server spends per request is preprocessing + postprocessing + ensemble/BLS alone: the
measurement upstream's baseline (1.79 / 0.88 ms of server CPU per request) was taken with.
"""

import json

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.decoupled = config.get("model_transaction_policy", {}).get("decoupled", False)
        self.outputs = {o["name"] for o in config["output"]}

    def _response(self, request):
        ids = pb_utils.get_input_tensor_by_name(request, "input_ids").as_numpy().reshape(-1)
        tensors = [
            pb_utils.Tensor("output_ids", np.array([[[int(ids[-1])]]], dtype=np.int32)),
            pb_utils.Tensor("sequence_length", np.array([[1]], dtype=np.int32)),
        ]
        return pb_utils.InferenceResponse(output_tensors=tensors)

    def execute(self, requests):
        if not self.decoupled:
            return [self._response(r) for r in requests]
        for request in requests:
            request.get_response_sender().send(
                self._response(request), flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL
            )
        return None
