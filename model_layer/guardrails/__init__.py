"""Guardrails with Amazon Bedrock's semantics: policies as plug-ins, the engine, the control plane.

(Being built: see issue 9.) Policies register in the ``strata.guardrail_policies`` entry-point
group (:mod:`model_layer.plugins`); guardrail definitions and versions live in the shared state.
"""
