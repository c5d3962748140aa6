"""Layer 2 — the model gateway: a Bedrock- and OpenAI-compatible API over many providers.

Imports only ``infrastructure`` below it; ``applications`` reach it only through ``model_layer.sdk``.
"""
