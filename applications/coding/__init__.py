"""Coding companion (Q Developer-like), built on model_layer.sdk."""
