"""The render pipeline: engine + tokenizer + overrides → plan → files → validation → atomic write."""

from tritongen.render.pipeline import CLUSTER_FILES, RenderResult, render_engine, render_repository

__all__ = ["CLUSTER_FILES", "RenderResult", "render_engine", "render_repository"]
