"""Options and value types more than one command takes, each with one default (from `tritongen.defaults`).

Every number a command takes has a ranged type, so a port of 70000, `--world-size 0` or a negative
timeout is a usage error (exit 2) named after the flag, caught before any library code runs; the
library keeps its own checks for callers that do not come through the CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from tritongen import defaults

F = TypeVar("F", bound=Callable[..., Any])


class Port(click.IntRange):
    """A TCP port, 1-65535 (shown as PORT in the help rather than INTEGER RANGE)."""

    name = "port"


PORT = Port(1, 65535)
AT_LEAST_ONE = click.IntRange(min=1)
AT_LEAST_ZERO = click.IntRange(min=0)
SECONDS = click.FloatRange(min=0, min_open=True)  # a timeout or duration: more than zero
SECONDS_OR_ZERO = click.FloatRange(min=0)


class HostList(click.ParamType):  # type: ignore[type-arg]  # generic only in recent click
    """mpirun's `--host` syntax, `HOST[:SLOTS],...`: the syntax is checked here, names resolve at launch."""

    name = "hosts"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        items = [item.strip() for item in str(value).split(",")]
        for item in items:
            host, colon, slots = item.partition(":")
            if not host or (colon and not (slots.isdecimal() and int(slots) >= 1)):
                self.fail(f"{item!r} is not HOST or HOST:SLOTS (e.g. node1:4,node2:4)", param, ctx)
        return ",".join(items)


class LevelList(click.ParamType):  # type: ignore[type-arg]  # generic only in recent click
    """Comma-separated concurrency levels, each at least 1: "1,2,4" → (1, 2, 4)."""

    name = "levels"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[int, ...]:
        from tritongen.bench.config import parse_levels  # here: the bench's imports only when it runs

        if isinstance(value, tuple):
            return value
        try:
            return parse_levels(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


def url_option(func: F) -> F:
    return click.option(
        "--url",
        default=defaults.SERVER_URL,
        show_default=True,
        metavar="URL",
        help="The server's HTTP address: HOST:PORT or http(s)://HOST:PORT.",
    )(func)


def model_option(func: F) -> F:
    return click.option(
        "--model",
        default=defaults.MODEL,
        show_default=True,
        help="ensemble, tensorrt_llm_bls, or any model with their text_input/max_tokens contract.",
    )(func)


def max_tokens_option(func: F) -> F:
    return click.option(
        "--max-tokens",
        type=AT_LEAST_ONE,
        default=defaults.MAX_TOKENS,
        show_default=True,
        metavar="N",
        help="Output tokens to generate per request, at most.",
    )(func)


def timeout_option(func: F) -> F:
    return click.option(
        "--timeout",
        "timeout_s",
        type=SECONDS,
        default=defaults.REQUEST_TIMEOUT_S,
        show_default=True,
        metavar="S",
        help="Seconds one request may take before it fails.",
    )(func)


def http_port_option(func: F) -> F:
    return click.option(
        "--http-port",
        type=PORT,
        default=defaults.HTTP_PORT,
        show_default=True,
        help="HTTP port of the launch (its state file is kept per HTTP port).",
    )(func)


def grpc_port_option(func: F) -> F:
    return click.option(
        "--grpc-port",
        type=PORT,
        default=defaults.GRPC_PORT,
        show_default=True,
        help="gRPC port of rank 0.",
    )(func)


def metrics_port_option(func: F) -> F:
    return click.option(
        "--metrics-port",
        type=PORT,
        default=defaults.METRICS_PORT,
        show_default=True,
        help="Prometheus metrics port of rank 0.",
    )(func)


def grace_period_option(func: F) -> F:
    return click.option(
        "--grace-period",
        type=SECONDS_OR_ZERO,
        default=defaults.GRACE_PERIOD_S,
        show_default=True,
        metavar="S",
        help="Seconds the server gets to finish requests on stop before it is killed.",
    )(func)
