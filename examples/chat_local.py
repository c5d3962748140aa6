"""Chat with the local runtime: a GGUF model served in-process by llama.cpp, no network.

    .venv/bin/python examples/chat_local.py "What is a GPU?"

Shows a streamed answer, a JSON-schema-constrained answer, token counting and the prefix cache
reusing a shared system prompt. STRATA_MODEL_PATH or STRATA_OPENAI_BASE_URL switch the model.
"""

from __future__ import annotations

import json
import sys

from infrastructure.runtime.engine import create_chat_engine
from infrastructure.runtime.settings import RuntimeSettings

SYSTEM = "You are a concise assistant for a hardware store. Answer in one or two sentences."


def main(question: str) -> int:
    engine = create_chat_engine(RuntimeSettings(n_parallel=1, n_ctx=4096))
    try:
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
        print(f"prompt tokens: {engine.count_tokens(messages)}")

        print("answer: ", end="", flush=True)
        for chunk in engine.stream_chat({"messages": messages, "max_tokens": 80, "temperature": 0.2}):
            for choice in chunk["choices"]:
                print(choice["delta"].get("content") or "", end="", flush=True)
        print()

        schema = {
            "type": "object",
            "properties": {"product": {"type": "string", "maxLength": 40}, "in_stock": {"type": "boolean"}},
            "required": ["product", "in_stock"],
            "additionalProperties": False,
        }
        structured = engine.chat(
            {
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": "Name one tool."},
                ],
                "max_tokens": 60,
                "temperature": 0,
                "response_format": {"type": "json_schema", "json_schema": {"name": "tool", "schema": schema}},
            }
        )
        print("structured:", json.loads(structured["choices"][0]["message"]["content"]))
        print("prefix cache:", engine.cache_stats())
    finally:
        engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(" ".join(sys.argv[1:]) or "What is a GPU?"))
