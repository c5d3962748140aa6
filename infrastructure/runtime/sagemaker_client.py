"""A chat backend for a SageMaker real-time endpoint running the strata container (or any
container that accepts OpenAI ``messages`` and streams JSON lines, e.g. LMI / vLLM images).

``invoke_endpoint`` for whole answers; ``invoke_endpoint_with_response_stream`` for streams,
whose ``PayloadPart`` events carry arbitrary byte slices, re-assembled here into JSON lines
(or ``data:`` SSE lines) before parsing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

from infrastructure.runtime.engine import (
    AsyncMethods,
    CacheStats,
    check_chat_request,
    raise_if_error,
    record_usage,
)
from infrastructure.runtime.errors import EndpointUnreachableError, InvalidRequestError
from strata.errors import NotFoundError


class SageMakerEndpointClient(AsyncMethods):
    """Chat, generate, embed and count tokens through ``sagemaker-runtime``."""

    def __init__(
        self,
        endpoint_name: str,
        *,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        client: Any | None = None,
    ) -> None:
        import boto3

        self.endpoint_name = endpoint_name
        self.model_id = endpoint_name
        self._client = client or boto3.client(
            "sagemaker-runtime", region_name=region_name, endpoint_url=endpoint_url
        )
        self._stats = CacheStats()
        self._lock = threading.Lock()

    # -- raw invocations --------------------------------------------------------------------------

    def invoke(self, body: dict) -> Any:
        """``InvokeEndpoint`` with a JSON body; returns the decoded JSON answer."""
        response = self._call(
            self._client.invoke_endpoint,
            EndpointName=self.endpoint_name,
            Body=json.dumps(body).encode(),
            ContentType="application/json",
            Accept="application/json",
        )
        return json.loads(response["Body"].read())

    def invoke_stream(self, body: dict) -> Iterator[dict]:
        """``InvokeEndpointWithResponseStream``; yields each JSON event of the container's stream."""
        response = self._call(
            self._client.invoke_endpoint_with_response_stream,
            EndpointName=self.endpoint_name,
            Body=json.dumps({**body, "stream": True}).encode(),
            ContentType="application/json",
            Accept="application/jsonlines",
        )
        return _json_lines(self._payload_bytes(response["Body"]))

    def _payload_bytes(self, event_stream: Any) -> Iterator[bytes]:
        from botocore.exceptions import ClientError

        try:
            for event in event_stream:
                if "PayloadPart" in event:
                    yield event["PayloadPart"]["Bytes"]
        except ClientError as exc:  # ModelStreamError / InternalStreamFailure arrive mid-stream
            raise InvalidRequestError(
                f"the endpoint's stream failed: {_message(exc)}", status_code=502
            ) from None
        finally:
            event_stream.close()

    def _call(self, operation: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError, EndpointConnectionError

        try:
            return operation(**kwargs)
        except EndpointConnectionError as exc:
            raise EndpointUnreachableError(
                f"cannot reach SageMaker runtime for endpoint {self.endpoint_name!r}: {exc}",
                hint="check the region / endpoint_url and your network",
            ) from None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ValidationError" and "not found" in _message(exc).lower():
                raise NotFoundError(f"SageMaker endpoint {self.endpoint_name!r} not found") from None
            status = int(
                exc.response.get("OriginalStatusCode") or exc.response["ResponseMetadata"]["HTTPStatusCode"]
            )
            raise InvalidRequestError(f"{code or 'error'}: {_message(exc)}", status_code=status) from None

    # -- the ChatBackend interface ------------------------------------------------------------------

    def chat(self, request: dict) -> dict:
        response = raise_if_error(self.invoke({**check_chat_request(request), "stream": False}))
        record_usage(self._stats, response.get("usage"), self._lock)
        return response

    def stream_chat(self, request: dict) -> Iterator[dict]:
        body = {**check_chat_request(request)}
        body.setdefault("stream_options", {"include_usage": True})
        return self._recorded(self.invoke_stream(body))

    def complete(self, request: dict) -> dict:
        """A raw-prompt generation, sent in TGI form (``inputs`` / ``parameters``)."""
        prompt, parameters = _tgi_body(request)
        result = self.invoke({"inputs": prompt, "parameters": parameters})
        return {"object": "text_completion", "choices": [{"index": 0, "text": result[0]["generated_text"]}]}

    def stream_complete(self, request: dict) -> Iterator[dict]:
        prompt, parameters = _tgi_body(request)
        for event in self.invoke_stream({"inputs": prompt, "parameters": parameters}):
            token = event.get("token") or {}
            finish = (event.get("details") or {}).get("finish_reason")
            yield {
                "object": "text_completion",
                "choices": [{"index": 0, "text": token.get("text", ""), "finish_reason": finish}],
            }

    def _recorded(self, chunks: Iterator[dict]) -> Iterator[dict]:
        for chunk in chunks:
            raise_if_error(chunk)
            if chunk.get("usage"):
                record_usage(self._stats, chunk["usage"], self._lock)
            yield chunk

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Embeddings from a container that serves them (``{"input": [...]}``)."""
        data = raise_if_error(self.invoke({"input": list(texts)}))["data"]
        return [item["embedding"] for item in sorted(data, key=lambda d: d["index"])]

    def count_tokens(self, text_or_messages: str | list[dict]) -> int:
        """Token count computed by the container's own tokenizer (strata containers)."""
        return int(raise_if_error(self.invoke({"count_tokens": text_or_messages}))["input_tokens"])

    def cache_stats(self) -> dict[str, Any]:
        with self._lock:
            return self._stats.as_dict()

    def close(self) -> None:
        self._client.close()


def _tgi_body(request: dict) -> tuple[str, dict]:
    if not isinstance(request, dict) or not isinstance(request.get("prompt"), str):
        raise InvalidRequestError("a completion request needs a 'prompt' string")
    names = {"max_tokens": "max_new_tokens", "temperature": "temperature", "top_p": "top_p", "stop": "stop"}
    return request["prompt"], {names[k]: v for k, v in request.items() if k in names}


def _message(exc: Any) -> str:
    error = exc.response.get("Error", {})
    return error.get("Message") or str(exc)


def _json_lines(parts: Iterator[bytes]) -> Iterator[dict]:
    """Re-assemble byte slices into lines and parse each (JSON lines, or SSE ``data:`` lines)."""
    buffer = b""
    for part in parts:
        buffer += part
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            event = _parse_line(line)
            if event is not None:
                yield event
    event = _parse_line(buffer)
    if event is not None:
        yield event


def _parse_line(line: bytes) -> dict | None:
    text = line.decode().strip()
    if text.startswith("data:"):
        text = text[5:].strip()
    if not text or text == "[DONE]":
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise InvalidRequestError(
            f"the endpoint streamed a line that is not JSON: {text[:120]}", status_code=502
        ) from None
