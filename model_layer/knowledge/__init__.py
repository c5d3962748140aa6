"""Knowledge bases with Amazon Bedrock's semantics: sources, chunking, vector stores, ingestion, retrieval.

The interface other subsystems use (agents call it for their knowledge-base tool)::

    knowledge: KnowledgeService = request.app.state.knowledge   # or KnowledgeDep in a router
    kb = await knowledge.get_knowledge_base(tenant, kb_id)      # ResourceNotFoundException if unknown
    results = await knowledge.retrieve(
        tenant, kb_id, "question", number_of_results=5, search_type=None, filter=None
    )
    [r.to_wire() for r in results]   # Retrieve's retrievalResults; r.reference() for citations

``RetrievalResult`` has ``content`` ({type: TEXT, text}), ``location`` (S3 / WEB / CUSTOM),
``score`` (0–1), ``metadata`` (Bedrock's ``x-amz-bedrock-kb-*`` keys and the document's
attributes). ``search_type`` is ``"HYBRID"`` or ``"SEMANTIC"`` (default); ``filter`` is
Bedrock's RetrievalFilter. Another tenant's KB is not found. Embeddings are metered to the tenant.

Inside: :mod:`.sources` (S3, folders, CUSTOM) → :mod:`.parsing` → :mod:`.chunking` →
:mod:`.indexing` (embeddings through the model service) → a vector store (:mod:`.stores`, plug-ins
in the ``strata.vector_stores`` group; Chroma built in) → :mod:`.retrieval` (vectors, BM25 and
rank fusion, :mod:`.filters`). :mod:`.ingestion` runs resumable jobs; :mod:`.generation` answers
with citations (RetrieveAndGenerate). State lives in the shared database (:mod:`.schema`).
"""

from model_layer.knowledge.records import KnowledgeBase, RetrievalResult
from model_layer.knowledge.service import KnowledgeService

__all__ = ["KnowledgeBase", "KnowledgeService", "RetrievalResult"]
