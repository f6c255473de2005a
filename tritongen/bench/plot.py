"""The sweep as a PNG: throughput and latency against concurrency (matplotlib, imported lazily)."""

from __future__ import annotations

from pathlib import Path

from tritongen.bench.report import BenchResult
from tritongen.errors import OutputError


def write_plot(result: BenchResult, path: Path) -> Path:
    """Two panels: tokens/s and requests/s; TTFT p50/p99 and e2e p50/p99 (ms). Returns `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = result.levels
    x = [level.concurrency for level in levels]
    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    title = f"{result.server.get('model')} /{result.server.get('endpoint')} at {result.server.get('url')}"
    figure.suptitle(title)

    throughput.plot(
        x, [level.output_tokens_per_s for level in levels], "o-", color="tab:blue", label="output tokens/s"
    )
    throughput.set_xlabel("concurrency")
    throughput.set_ylabel("output tokens/s", color="tab:blue")
    requests_axis = throughput.twinx()
    requests_axis.plot(
        x, [level.requests_per_s for level in levels], "s--", color="tab:orange", label="requests/s"
    )
    requests_axis.set_ylabel("requests/s", color="tab:orange")
    throughput.set_title("throughput")

    series = (
        ("TTFT p50", [lv.ttft_ms.p50 if lv.ttft_ms else None for lv in levels], "o-"),
        ("TTFT p99", [lv.ttft_ms.p99 if lv.ttft_ms else None for lv in levels], "o:"),
        ("e2e p50", [lv.e2e_ms.p50 if lv.e2e_ms else None for lv in levels], "s-"),
        ("e2e p99", [lv.e2e_ms.p99 if lv.e2e_ms else None for lv in levels], "s:"),
    )
    for label, values, style in series:
        points = [(c, v) for c, v in zip(x, values, strict=True) if v is not None]
        if points:
            latency.plot([c for c, _ in points], [v for _, v in points], style, label=label)
    latency.set_xlabel("concurrency")
    latency.set_ylabel("latency (ms)")
    latency.set_title("latency")
    latency.legend()

    for axis in (throughput, latency):
        if len(set(x)) > 1 and min(x) > 0:
            axis.set_xscale("log", base=2)
        axis.set_xticks(x)
        axis.set_xticklabels([str(c) for c in x])
        axis.grid(True, alpha=0.3)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=120)
    except OSError as error:
        raise OutputError(f"cannot write the plot {path}: {error}") from None
    finally:
        plt.close(figure)
    return path
