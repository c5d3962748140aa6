"""The local runtime ("AI in a box"): llama.cpp chat engine, ONNX embeddings, the SageMaker
inference-container contract, and clients for remote endpoints. See ``README.md`` beside this file.
"""
