"""HTTP to a running Triton deployment: one home for what `tritongen infer` and `tritongen bench` share.

`contract` describes the two request contracts a generate endpoint may speak (ensemble/BLS and llmapi:
their input names, and delta or cumulative streamed text); `generate` holds URL normalisation, the
model-contract probe, server-sent-event decoding and error bodies. `tritongen.client` (infer) and
`tritongen.bench` build their requests on top of them.
"""

from tritongen.http.contract import INPUT_NAMES, ModelContract, StreamedText
from tritongen.http.generate import (
    GENERATE_ENDPOINTS,
    base_url,
    decode_sse_line,
    error_of_body,
    error_text,
    generate_url,
    probe_default_model,
    probe_model,
    server_sent_events,
    shorten,
    text_of,
    unreachable,
)

__all__ = [
    "GENERATE_ENDPOINTS",
    "INPUT_NAMES",
    "ModelContract",
    "StreamedText",
    "base_url",
    "decode_sse_line",
    "error_of_body",
    "error_text",
    "generate_url",
    "probe_default_model",
    "probe_model",
    "server_sent_events",
    "shorten",
    "text_of",
    "unreachable",
]
