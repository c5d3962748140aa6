"""Layer 3 — applications built only on ``model_layer.sdk``."""
