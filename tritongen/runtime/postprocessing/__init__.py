"""The postprocessing model: token ids -> text, streaming-safe."""
