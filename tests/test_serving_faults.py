"""What real clients do to a running deployment: leave mid-request, crowd the BLS, send hostile sampling
inputs or megabytes of prompt (issue #14). Real tritonserver, real SmolLM2 on the torch runtime (the
`tritongen render`ed repository of fixtures/python_models/servers.py), real gRPC and HTTP clients.

Tokens generated after a client left are read from the torch runtime's own counter
(`tritongen_torch_generated_tokens_total`); the checks live in `tritongen.testing.reliability.
serving_faults`, which the reliability suite runs at larger sizes (`scripts/reliability.py --full`).
"""

from __future__ import annotations

import threading
import time

import pytest
from fixtures.python_models import servers

from tritongen.testing import reliability as rel
from tritongen.testing.reliability import serving_faults as faults
from tritongen.testing.server import RunningServer

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def smollm2() -> faults.Endpoints:
    server = servers.rendered_smollm2_server()
    return faults.Endpoints.on_ports(server.http_port, server.grpc_port, server.metrics_port)


@pytest.fixture(scope="module")
def prompt_ids() -> list[int]:
    return faults.prompt_ids()


@pytest.mark.parametrize("kind", faults.CANCELLABLE)
def test_a_client_that_leaves_stops_its_generation(smollm2, prompt_ids, kind: str) -> None:
    """Two clients ask for 300 tokens each and leave after their first response: the runtime stops both
    within a step or two (a non-streamed BLS answer too: its watcher sees the gRPC cancellation)."""
    counts = faults.disconnect_trial(smollm2, kind, clients=2, prompt_ids=prompt_ids)
    assert counts["after_leaving"] <= 2 * faults.AFTER_DISCONNECT_ALLOWED, counts


def test_the_ensemble_does_not_forward_a_cancellation_in_triton_2_51(smollm2, prompt_ids) -> None:
    """The documented limit (docs: use tensorrt_llm_bls to cancel): Triton 2.51's ensemble scheduler
    does not cancel its running steps, so the runtime never learns that the client left. When this
    fails, Triton started forwarding it: the docs and `faults.NOT_PROPAGATED` must change."""
    counts = faults.disconnect_trial(smollm2, "ensemble-grpc-stream", clients=1, prompt_ids=prompt_ids)
    assert counts["after_leaving"] > faults.LONG_OUTPUT / 2, counts


def test_hostile_sampling_inputs_in_the_batch_leave_seeded_bls_answers_unchanged(smollm2) -> None:
    """NaN temperature, end_id outside the vocabulary with min_tokens, NaN repetition_penalty, negative
    min_tokens: each refused on its own; seeded sampling requests sharing the batch keep their text."""
    assert faults.hostile_batch_trial(smollm2, seeds=[3, 4]) == []


def test_bls_streams_beyond_the_python_backend_thread_pool_start_together() -> None:
    """64 concurrent BLS streams (twice the Python backend's default pool of 32 threads) on the stand-in
    LLM (20 ms a token, no batch limit): every first token comes long before the first streams end. If
    each stream held a pool thread, the last 32 would wait a whole stream (seconds) for their first token."""
    server: RunningServer = servers.latest_server()
    endpoints = faults.Endpoints.on_ports(server.http_port, server.grpc_port, server.metrics_port)
    values = {
        "text_input": "word word",
        "max_tokens": 250,
        "stream": True,
        "end_id": -1,
    }  # echoed: 250 tokens
    replies: list[faults.Reply] = []
    durations: list[float] = []
    lock = threading.Lock()

    def stream() -> None:
        started = time.monotonic()
        reply = faults.grpc_request(endpoints, "tensorrt_llm_bls", values, timeout_s=120)
        with lock:
            replies.append(reply)
            durations.append(time.monotonic() - started)

    threads = [threading.Thread(target=stream) for _ in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert len(replies) == 64 and all(reply.error is None for reply in replies), [r.error for r in replies]
    first = sorted(reply.first_s or 0.0 for reply in replies)
    assert min(durations) > 1.5, "each stream must outlast the first tokens for a wave to show"
    assert first[-1] < min(durations) / 2, f"first tokens at {first[0]:.2f}..{first[-1]:.2f} s"


@pytest.mark.reliability
def test_serving_faults_part_at_quick_sizes(smollm2, prompt_ids) -> None:
    sizes = rel.sizes_for(rel.mode_from_env("quick"))
    result = rel.run_serving_faults(
        smollm2,
        prompt_ids,
        disconnect_clients=sizes.disconnect_clients,
        hostile_seeds=sizes.hostile_seeds,
        oversized_mb=sizes.oversized_mb,
        mode=sizes.mode,
    )
    assert result.ok, result.explain()
