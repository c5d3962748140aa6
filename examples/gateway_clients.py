"""Four unmodified clients against one strata gateway: boto3, the openai SDK, langchain-aws, the SDK.

    .venv/bin/python examples/gateway_clients.py                 # starts a gateway (local models)
    .venv/bin/python examples/gateway_clients.py --config strata.toml --chat-model … --embedding-model …
    .venv/bin/python examples/gateway_clients.py --base-url http://127.0.0.1:8000   # a running one

Without ``--base-url`` the script starts ``strata serve`` on a free loopback port with a throwaway
STRATA_HOME, issues a key set with ``strata keys create``, and stops the gateway at the end. With
``--base-url`` it reads the keys from STRATA_API_KEY, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
The Bedrock clients sign with SigV4 (the issued key pair); the openai SDK sends the API key.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHAT_MODEL = "local.smollm2-135m-instruct-v1:0"
EMBEDDING_MODEL = "amazon.minilm-l6-v2:0"  # `amazon.`: langchain's BedrockEmbeddings sends Titan bodies
QUESTION = "Name one planet in the solar system."
STRATA = str(Path(sys.executable).parent / "strata")


class ExampleError(Exception):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def started_gateway(config: str | None) -> Iterator[tuple[str, dict[str, str]]]:
    """``strata serve`` in a subprocess with its own home; yields (base URL, issued keys)."""
    import httpx

    with tempfile.TemporaryDirectory(prefix="strata-example-") as home:
        env = {**os.environ, "STRATA_HOME": home}
        issued = subprocess.run(
            [STRATA, "keys", "create", "--tenant", "example", "--json"],
            env=env,
            capture_output=True,
            text=True,
        )
        if issued.returncode != 0:
            raise ExampleError(issued.stderr.strip() or "strata keys create failed")
        keys = json.loads(issued.stdout)
        port = _free_port()
        cmd = [STRATA, "serve", "--port", str(port)] + (["--config", config] if config else [])
        log = Path(home) / "serve.log"
        with log.open("w") as out:
            proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        base_url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                if proc.poll() is not None:
                    raise ExampleError(log.read_text().strip().splitlines()[-1])
                try:
                    httpx.get(f"{base_url}/health", timeout=2)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise ExampleError("the gateway did not start in 120 s") from None
                    time.sleep(0.1)  # poll interval while the server starts
            yield base_url, keys
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def with_boto3(base_url: str, keys: dict[str, str], chat: str, embed: str) -> None:
    import boto3

    session = boto3.Session(
        aws_access_key_id=keys["accessKeyId"],
        aws_secret_access_key=keys["secretAccessKey"],
        region_name="us-east-1",
    )
    runtime = session.client("bedrock-runtime", endpoint_url=base_url)
    messages = [{"role": "user", "content": [{"text": QUESTION}]}]
    answer = runtime.converse(
        modelId=chat, messages=messages, inferenceConfig={"maxTokens": 32, "temperature": 0}
    )
    print(f"boto3 converse: {answer['output']['message']['content'][0]['text']!r} usage={answer['usage']}")
    stream = runtime.converse_stream(modelId=chat, messages=messages, inferenceConfig={"maxTokens": 32})[
        "stream"
    ]
    parts = [e["contentBlockDelta"]["delta"].get("text", "") for e in stream if "contentBlockDelta" in e]
    print(f"boto3 converse_stream: {len(parts)} deltas {''.join(parts)!r}")
    body = runtime.invoke_model(modelId=embed, body=json.dumps({"inputText": QUESTION}))["body"]
    print(f"boto3 invoke_model (embedding): {len(json.loads(body.read())['embedding'])} dimensions")
    models = session.client("bedrock", endpoint_url=base_url).list_foundation_models()["modelSummaries"]
    print(f"boto3 list_foundation_models: {sorted(m['modelId'] for m in models)}")


def with_openai(base_url: str, keys: dict[str, str], chat: str, embed: str) -> None:
    import openai

    with openai.OpenAI(base_url=f"{base_url}/v1", api_key=keys["apiKey"]) as client:
        reply = client.chat.completions.create(
            model=chat, messages=[{"role": "user", "content": QUESTION}], max_tokens=32, temperature=0
        )
        print(f"openai chat: {reply.choices[0].message.content!r} finish={reply.choices[0].finish_reason}")
        stream = client.chat.completions.create(
            model=chat, messages=[{"role": "user", "content": QUESTION}], max_tokens=32, stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        print(f"openai chat (stream): {text!r}")
        vectors = client.embeddings.create(model=embed, input=[QUESTION, "Mars"])
        print(f"openai embeddings: {len(vectors.data)} x {len(vectors.data[0].embedding)}")


def with_langchain(base_url: str, keys: dict[str, str], chat: str, embed: str) -> None:
    from model_layer.sdk.langchain import chat_model, embeddings_model

    creds = {"access_key": keys["accessKeyId"], "secret_key": keys["secretAccessKey"]}
    llm = chat_model(base_url, chat, max_tokens=32, temperature=0, **creds)
    print(f"langchain invoke: {llm.invoke(QUESTION).content!r}")
    print(f"langchain stream: {sum(1 for _ in llm.stream(QUESTION))} chunks")
    vector = embeddings_model(base_url, embed, **creds).embed_query(QUESTION)
    print(f"langchain embeddings: {len(vector)} dimensions")


def with_sdk(base_url: str, keys: dict[str, str], chat: str, embed: str) -> None:
    from model_layer.sdk import ContentBlockDeltaEvent, StrataClient

    with StrataClient(base_url, api_key=keys["apiKey"]) as client:
        answer = client.converse(chat, QUESTION, inference_config={"maxTokens": 32, "temperature": 0})
        print(f"sdk converse: {answer.text!r} stop={answer.stop_reason} tokens={answer.usage.total_tokens}")
        deltas = [
            e.text for e in client.converse_stream(chat, QUESTION) if isinstance(e, ContentBlockDeltaEvent)
        ]
        print(f"sdk converse_stream: {len(deltas)} deltas")
        print(f"sdk count_tokens: {client.count_tokens(chat, QUESTION)}")
        print(f"sdk embed: {len(client.embed(embed, [QUESTION]).vectors[0])} dimensions")


def run(args: argparse.Namespace) -> None:
    clients = (with_boto3, with_openai, with_langchain, with_sdk)
    if args.base_url:
        missing = [
            v
            for v in ("STRATA_API_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
            if not os.environ.get(v)
        ]
        if missing:
            raise ExampleError(f"--base-url needs {', '.join(missing)} set (from `strata keys create`)")
        keys = {
            "apiKey": os.environ["STRATA_API_KEY"],
            "accessKeyId": os.environ["AWS_ACCESS_KEY_ID"],
            "secretAccessKey": os.environ["AWS_SECRET_ACCESS_KEY"],
        }
        for client in clients:
            client(args.base_url, keys, args.chat_model, args.embedding_model)
        return
    with started_gateway(args.config) as (base_url, keys):
        print(f"gateway: {base_url}")
        for client in clients:
            client(base_url, keys, args.chat_model, args.embedding_model)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", help="a running gateway (default: start one)")
    parser.add_argument("--config", help="strata.toml for the gateway this script starts")
    parser.add_argument("--chat-model", default=CHAT_MODEL)
    parser.add_argument("--embedding-model", default=EMBEDDING_MODEL)
    args = parser.parse_args(argv)
    try:
        run(args)
    except ExampleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # one line for the user, whatever the client raised
        print(f"error: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
