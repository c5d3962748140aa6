"""The gateway SDK: the only part of model_layer that applications may import.

It talks to a gateway over HTTP (so an app can run on another machine) and imports none of the
gateway's server code::

    from model_layer.sdk import StrataClient, ThrottlingError

    with StrataClient("http://127.0.0.1:8000", api_key="sk-strata-…") as client:
        answer = client.converse("local.smollm2-135m-instruct-v1:0", "Hello!")
        print(answer.text, answer.usage.output_tokens)

LangChain models for the gateway live in :mod:`model_layer.sdk.langchain`; agents (define, invoke,
return control, memory) in :mod:`model_layer.sdk.agents`; knowledge bases (documents, Retrieve,
RetrieveAndGenerate) in :mod:`model_layer.sdk.knowledge`; guardrails (define, ApplyGuardrail) in
:mod:`model_layer.sdk.guardrails`.
"""

from model_layer.sdk._wire import ApiKeyAuth, RetryPolicy, SigV4Auth
from model_layer.sdk.agents import (
    AgentAnswer,
    AgentChunk,
    AgentReturnControl,
    AgentsClient,
    AgentTrace,
    AsyncAgentsClient,
    function,
)
from model_layer.sdk.client import AsyncStrataClient, StrataClient
from model_layer.sdk.errors import (
    AccessDeniedError,
    APIConnectionError,
    APITimeoutError,
    ConflictError,
    DependencyFailedError,
    ExpiredTokenError,
    IncompleteSignatureError,
    InternalServerError,
    InvalidSignatureError,
    ModelError,
    ModelNotReadyError,
    ModelStreamError,
    ModelTimeoutError,
    ResourceNotFoundError,
    ServiceQuotaExceededError,
    ServiceUnavailableError,
    StrataAPIError,
    ThrottlingError,
    UnknownOperationError,
    UnrecognizedClientError,
    ValidationError,
)
from model_layer.sdk.guardrails import AsyncGuardrailsClient, GuardrailResult, GuardrailsClient
from model_layer.sdk.knowledge import (
    AsyncKnowledgeBasesClient,
    GeneratedAnswer,
    KnowledgeBasesClient,
    RetrievedChunk,
    text_document,
)
from model_layer.sdk.types import (
    ContentBlockDeltaEvent,
    ContentBlockStartEvent,
    ContentBlockStopEvent,
    ConverseResponse,
    Embeddings,
    MessageStartEvent,
    MessageStopEvent,
    MetadataEvent,
    ModelSummary,
    StreamEvent,
    TokenUsage,
    ToolUse,
    UsageReport,
)

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "AccessDeniedError",
    "AgentAnswer",
    "AgentChunk",
    "AgentReturnControl",
    "AgentTrace",
    "AgentsClient",
    "ApiKeyAuth",
    "AsyncAgentsClient",
    "AsyncGuardrailsClient",
    "AsyncKnowledgeBasesClient",
    "AsyncStrataClient",
    "ConflictError",
    "ContentBlockDeltaEvent",
    "ContentBlockStartEvent",
    "ContentBlockStopEvent",
    "ConverseResponse",
    "DependencyFailedError",
    "Embeddings",
    "ExpiredTokenError",
    "GeneratedAnswer",
    "GuardrailResult",
    "GuardrailsClient",
    "IncompleteSignatureError",
    "InternalServerError",
    "InvalidSignatureError",
    "KnowledgeBasesClient",
    "MessageStartEvent",
    "MessageStopEvent",
    "MetadataEvent",
    "ModelError",
    "ModelNotReadyError",
    "ModelStreamError",
    "ModelSummary",
    "ModelTimeoutError",
    "ResourceNotFoundError",
    "RetrievedChunk",
    "RetryPolicy",
    "ServiceQuotaExceededError",
    "ServiceUnavailableError",
    "SigV4Auth",
    "StrataAPIError",
    "StrataClient",
    "StreamEvent",
    "ThrottlingError",
    "TokenUsage",
    "ToolUse",
    "UnknownOperationError",
    "UnrecognizedClientError",
    "UsageReport",
    "ValidationError",
    "function",
    "text_document",
]
