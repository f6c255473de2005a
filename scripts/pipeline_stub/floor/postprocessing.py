"""A zero-cost postprocessing for the floor measurement (see preprocessing.py here): fixed text."""

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        text = np.array([[b"x"]], dtype=np.object_)
        return [
            pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("OUTPUT", text)]) for _ in requests
        ]
