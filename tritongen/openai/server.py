"""Run the route: resolve the deployment, load the tokenizer, serve with uvicorn until told to stop.

`tritongen openai` calls `serve`; `tritongen launch --openai-port` runs the same command as a supervised
child. Readiness is `GET /health` (200 once uvicorn listens and the upstream model is ready).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from tritongen.errors import LaunchError, UsageError


@dataclass(frozen=True)
class RouteOptions:
    """`tritongen openai`'s flags."""

    url: str
    port: int = 9000
    host: str = "127.0.0.1"
    repository: Path | None = None
    model_name: str | None = None
    served_model_name: str | None = None
    tokenizer: Path | None = None
    chat_template: Path | None = None
    log_level: str = "warning"


def _read_template(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(
            f"cannot read the chat template {path}: {error}", hint="Pass a Jinja file."
        ) from None


def serve(options: RouteOptions) -> None:
    """Blocks until SIGINT/SIGTERM. Imports FastAPI/uvicorn only here: core tritongen does not need them."""
    try:
        import uvicorn

        from tritongen.openai.app import create_app
    except ImportError as error:
        raise UsageError(
            f"the OpenAI route needs the 'openai' extra ({error.name} is missing)",
            hint="pip install 'tritongen[openai]'.",
        ) from None
    from tritongen.openai.deployment import resolve
    from tritongen.openai.prompts import PromptBuilder

    class _QuietStop(uvicorn.Server):
        """SIGINT/SIGTERM is how a server is asked to stop: shut down gracefully and exit 0, instead of
        uvicorn's re-raising the signal afterwards (which would read as an interrupted command, 130)."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:  # noqa: ARG002 - the handler signature
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True  # a second Ctrl-C: do not wait for open streams
            self.should_exit = True

    template = _read_template(options.chat_template)
    deployment = resolve(
        options.url,
        repository=options.repository,
        model_name=options.model_name,
        served_name=options.served_model_name,
        tokenizer=options.tokenizer,
    )
    builder = PromptBuilder(deployment.tokenizer_dir, template, deployment.add_special_tokens)
    app = create_app(deployment, builder)
    config = uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        log_level=options.log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = _QuietStop(config)
    print(
        f"OpenAI route on http://{options.host}:{options.port}/v1 → {deployment.target.kind} "
        f"'{deployment.target.model}' at {deployment.url} (model id '{deployment.served_name}')",
        flush=True,
    )
    server.run()
    if not server.started:
        raise LaunchError(f"the OpenAI route could not listen on {options.host}:{options.port} (port busy?)")
