"""Which TFLite interpreter, which delegate, and what the model expects."""
