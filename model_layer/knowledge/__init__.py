"""Knowledge bases with Amazon Bedrock's semantics: sources, chunking, vector stores, ingestion, retrieval.

(Being built: see issue 10.) Vector stores register in the ``strata.vector_stores`` entry-point
group (:mod:`model_layer.plugins`); knowledge-base, data-source and ingestion-job metadata live in
the shared state.
"""
