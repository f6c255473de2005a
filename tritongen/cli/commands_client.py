"""Commands that talk to a running server: infer."""

from __future__ import annotations

import sys

import click

from tritongen.cli import cli
from tritongen.client import DEFAULT_MODEL, DEFAULT_URL, GenerateOptions, InferClient


@cli.command()
@click.option("--prompt", "-p", required=True, help="The text to send.")
@click.option("--stream", is_flag=True, help="Print the answer as it is generated.")
@click.option("--max-tokens", type=click.IntRange(min=1), default=64, show_default=True)
@click.option(
    "--model",
    default=DEFAULT_MODEL,
    show_default=True,
    help="ensemble, tensorrt_llm_bls, or any model that takes text_input/max_tokens.",
)
@click.option("--url", default=DEFAULT_URL, show_default=True, help="The server's HTTP address.")
@click.option("--temperature", type=click.FloatRange(min=0.0), help="Sampling temperature.")
@click.option("--top-k", type=click.IntRange(min=0), help="Sample from the k likeliest tokens.")
@click.option("--top-p", type=click.FloatRange(min=0.0, max=1.0), help="Nucleus sampling threshold.")
@click.option("--seed", type=click.IntRange(min=0), help="Random seed, for repeatable sampling.")
@click.option("--stop", multiple=True, metavar="WORD", help="Stop when this text is generated (repeatable).")
@click.option("--timeout", type=click.FloatRange(min=1), default=600, show_default=True, metavar="S")
def infer(
    prompt: str,
    stream: bool,
    max_tokens: int,
    model: str,
    url: str,
    temperature: float | None,
    top_k: int | None,
    top_p: float | None,
    seed: int | None,
    stop: tuple[str, ...],
    timeout: float,
) -> None:
    """Send PROMPT to a running deployment and print the answer.

    Unreachable servers and error answers fail with exit code 8 and one line that says why.
    """
    client = InferClient(url=url, model=model, timeout_s=timeout)
    options = GenerateOptions(
        max_tokens=max_tokens, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, stop=stop
    )
    if not stream:
        click.echo(client.generate(prompt, options))
        return
    try:
        for piece in client.stream(prompt, options):
            click.echo(piece, nl=False)
            sys.stdout.flush()
    finally:
        click.echo()
