"""Layer 1 — compute: accelerator catalog, capacity planner, SageMaker provisioning, local runtime.

Imports neither ``model_layer`` nor ``applications`` (import-linter contract).
"""
