"""Tokenizer loading, tensor specs and fast encode/decode paths shared by preprocessing and postprocessing."""
