"""LangChain models wired to the gateway: langchain-aws classes pointed at its base URL.

langchain-aws decides behaviour from the model id's provider prefix (``anthropic.``,
``amazon.``…). Gateway ids such as ``local.smollm2-…`` have a provider langchain does not know,
which would quietly turn streaming off and limit ``tool_choice``; these helpers set both
explicitly, because the gateway streams and supports every Converse ``toolChoice`` for all models.
"""

from __future__ import annotations

from typing import Any

# langchain-aws's provider list (utils.parse_model_provider); ids starting with one keep its logic.
_GEO_PREFIXES = ("us", "eu", "apac", "us-gov", "sa", "amer", "global", "jp", "au")


def _provider_of(model_id: str) -> str:
    parts = model_id.split(".")
    if len(parts) > 1 and parts[0] in _GEO_PREFIXES:
        return parts[1]
    return parts[0]


def _credentials(
    api_key: str | None, access_key: str | None, secret_key: str | None, session_token: str | None
) -> dict[str, Any]:
    if access_key and secret_key:
        creds = {"aws_access_key_id": access_key, "aws_secret_access_key": secret_key}
        if session_token:
            creds["aws_session_token"] = session_token
        return creds
    if api_key:
        # Bedrock bearer keys need https (botocore refuses bearer on plain http).
        return {"bedrock_api_key": api_key}
    raise ValueError("pass access_key= and secret_key= (SigV4), or api_key= for an https gateway")


def chat_model(
    base_url: str,
    model_id: str,
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
    session_token: str | None = None,
    api_key: str | None = None,
    region: str = "us-east-1",
    provider: str | None = None,
    **kwargs: Any,
):
    """A ``langchain_aws.ChatBedrockConverse`` that talks to the gateway at ``base_url``.

    ``kwargs`` go to ``ChatBedrockConverse`` (``temperature``, ``max_tokens``, ``guardrails``…).
    """
    from langchain_aws import ChatBedrockConverse

    options: dict[str, Any] = {
        "provider": provider or _provider_of(model_id),
        "disable_streaming": False,
        "supports_tool_choice_values": ("auto", "any", "tool"),
    }
    options.update(kwargs)
    return ChatBedrockConverse(
        model=model_id,
        endpoint_url=base_url,
        region_name=region,
        **_credentials(api_key, access_key, secret_key, session_token),
        **options,
    )


def embeddings_model(
    base_url: str,
    model_id: str,
    *,
    access_key: str,
    secret_key: str,
    session_token: str | None = None,
    region: str = "us-east-1",
    provider: str = "amazon",
    **kwargs: Any,
):
    """A ``langchain_aws.BedrockEmbeddings`` over the gateway's InvokeModel.

    ``provider`` picks the body format langchain sends: ``amazon`` (Titan ``inputText``, the
    default) or ``cohere`` (``texts``); the model must answer in that format.
    """
    from langchain_aws import BedrockEmbeddings

    creds = _credentials(None, access_key, secret_key, session_token)
    return BedrockEmbeddings(
        model_id=model_id,
        endpoint_url=base_url,
        region_name=region,
        provider=provider,
        **creds,
        **kwargs,
    )
