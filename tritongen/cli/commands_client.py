"""Commands that talk to a running server: infer."""

from __future__ import annotations

import sys

import click
from click.core import ParameterSource

from tritongen import defaults
from tritongen.cli._app import cli
from tritongen.cli._options import max_tokens_option, timeout_option, url_option


@cli.command()
@click.option("--prompt", "-p", required=True, metavar="TEXT", help="The text to send.")
@click.option("--stream", is_flag=True, help="Print the answer as it is generated.")
@max_tokens_option
@click.option(
    "--model",
    default=defaults.MODEL,
    show_default=True,
    help="ensemble, tensorrt_llm_bls, an llmapi tensorrt_llm, or any model with one of their contracts. "
    "Not given: ensemble, or the llmapi tensorrt_llm where there is no ensemble.",
)
@url_option
@click.option("--temperature", type=click.FloatRange(min=0.0), metavar="T", help="Sampling temperature.")
@click.option("--top-k", type=click.IntRange(min=0), metavar="K", help="Sample from the K likeliest tokens.")
@click.option(
    "--top-p", type=click.FloatRange(min=0.0, max=1.0), metavar="P", help="Nucleus sampling threshold."
)
@click.option("--seed", type=click.IntRange(min=0), metavar="N", help="Random seed, for repeatable sampling.")
@click.option("--stop", multiple=True, metavar="WORD", help="Stop when this text is generated (repeatable).")
@timeout_option
@click.pass_context
def infer(
    ctx: click.Context,
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
    timeout_s: float,
) -> None:
    """Send the --prompt text to a running deployment and print the answer.

    Speaks both request contracts, the ensemble/BLS one and the llmapi model's (the model's config says
    which); --stream prints only new text either way. Unreachable servers and error answers fail with
    exit code 8 and one line that says why.
    """
    from tritongen.client import GenerateOptions, InferClient  # here: requests loads only when needed

    # Only a --model the user typed is taken as is; the default may fall back to an llmapi deployment.
    given = ctx.get_parameter_source("model") is not ParameterSource.DEFAULT
    client = InferClient(url=url, model=model if given else None, timeout_s=timeout_s)
    options = GenerateOptions(
        max_tokens=max_tokens, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, stop=stop
    )
    if not stream:
        click.echo(client.generate(prompt, options))
        return
    printed = False
    try:
        for piece in client.stream(prompt, options):
            click.echo(piece, nl=False)
            sys.stdout.flush()
            printed = True
    except BaseException:
        if printed:  # end the partial answer's line; a request refused outright prints nothing
            click.echo()
        raise
    click.echo()
