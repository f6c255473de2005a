"""An OpenAI-compatible HTTP route in front of a running tritongen deployment.

`tritongen openai --url HOST:PORT` (and `tritongen launch --openai-port`) serve `/v1/chat/completions`,
`/v1/completions`, `/v1/models` and `/health` with FastAPI + uvicorn, translating each request into the
deployment's own generate_stream contract (`targets`). The package needs the `openai` extra (FastAPI,
uvicorn) and transformers for the tokenizer; nothing in core tritongen imports it.

Modules: `protocol` (request models, errors), `targets` (per-model translation), `prompts` (chat template,
token counts), `upstream` (asyncio Triton client), `generation` (stop strings, finish reason, usage),
`deployment` (what to call, found from the server and the manifest), `app` (FastAPI), `server` (uvicorn).
"""
