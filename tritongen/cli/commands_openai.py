"""`tritongen openai`: an OpenAI-compatible HTTP route in front of a running deployment."""

from __future__ import annotations

from pathlib import Path

import click

from tritongen.cli._app import cli
from tritongen.cli._options import PORT, url_option

EXISTING_DIR = click.Path(exists=True, file_okay=False, path_type=Path)
EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@cli.command("openai")
@url_option
@click.option("--port", type=PORT, default=9000, show_default=True, help="Port the route listens on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the route binds to.")
@click.option(
    "--repository", type=EXISTING_DIR, help="The rendered repository (manifest: models, tokenizer)."
)
@click.option(
    "--model-name", help="Triton model to call (default: ensemble, else tensorrt_llm_bls, else llmapi)."
)
@click.option("--served-model-name", help="The model id clients send (default: the repository's name).")
@click.option("--tokenizer", type=EXISTING_DIR, help="Tokenizer directory (default: the repository's).")
@click.option("--chat-template", type=EXISTING_FILE, help="A Jinja chat template instead of the tokenizer's.")
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="warning",
    show_default=True,
    help="uvicorn's log level.",
)
def openai(
    url: str,
    port: int,
    host: str,
    repository: Path | None,
    model_name: str | None,
    served_model_name: str | None,
    tokenizer: Path | None,
    chat_template: Path | None,
    log_level: str,
) -> None:
    """Serve /v1/chat/completions, /v1/completions and /v1/models in front of the tritonserver at --url.

    Requests are chat-templated with the deployment's own tokenizer and sent to its ensemble (or BLS)
    through generate_stream; a client that disconnects cancels its request. Needs the `openai` extra.
    """
    from tritongen.openai.server import RouteOptions, serve  # here: FastAPI loads only for this command

    serve(
        RouteOptions(
            url=url,
            port=port,
            host=host,
            repository=repository,
            model_name=model_name,
            served_model_name=served_model_name,
            tokenizer=tokenizer,
            chat_template=chat_template,
            log_level=log_level,
        )
    )
