"""The Triton side the two generating models share (the torch runtime's and the llmapi one): requests in flight."""
