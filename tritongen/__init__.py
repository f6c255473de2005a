"""tritongen: a TensorRT-LLM engine (or Hugging Face checkpoint) in, a running Triton deployment out."""

__version__ = "0.1.0"

__all__ = ["__version__"]
