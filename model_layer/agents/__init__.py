"""Agents with Amazon Bedrock's semantics: definitions, action groups, orchestration, sessions, memory.

(Being built: see issue 11.) Agent definitions, aliases, sessions and memory live in the shared
state; model calls go through :class:`~model_layer.service.ModelService`, knowledge-base lookups
through :mod:`model_layer.knowledge`.
"""
