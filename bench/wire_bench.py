"""What the Bedrock wire layer costs per request, against parsing the same bytes (the baseline).

Measured in one run, same process: for Converse bodies of growing size, ``json.loads`` alone
(baseline) vs ``json.loads`` + the botocore-model validator + Bedrock's extra rules + translation
to a ChatRequest; and for a 200-token streamed answer, ``json.dumps`` of each event (baseline) vs
full event-stream framing (headers, two CRCs). Ratios > 1 are the wire layer's overhead.

    .venv/bin/python bench/wire_bench.py [--repeat 30]

Writes bench/results/wire.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from model_layer.types import BlockDelta, BlockStop, MessageStart, MessageStop, Metadata, Usage
from model_layer.wire.converse import chat_request_from_converse, converse_stream_event
from model_layer.wire.eventstream import encode_event
from model_layer.wire.validate import check_converse, parse_json_body, validate_input

RESULTS = Path(__file__).resolve().parent / "results"
MODEL = "local.smollm2-135m-instruct-v1:0"
TOOLS = {
    "tools": [
        {
            "toolSpec": {
                "name": f"tool_{i}",
                "description": "A tool",
                "inputSchema": {"json": {"type": "object", "properties": {"q": {"type": "string"}}}},
            }
        }
        for i in range(5)
    ]
}


def converse_body(turns: int) -> bytes:
    messages = [
        {
            "role": "user" if i % 2 == 0 else "assistant",
            "content": [{"text": "a fairly ordinary sentence " * 8}],
        }
        for i in range(turns)
    ]
    if turns % 2 == 0:
        messages.append({"role": "user", "content": [{"text": "and?"}]})
    body = {
        "messages": messages,
        "system": [{"text": "You are helpful."}, {"cachePoint": {"type": "default"}}],
        "inferenceConfig": {"maxTokens": 256, "temperature": 0.2},
        "toolConfig": TOOLS,
    }
    return json.dumps(body).encode()


def median_us(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1e6)
    return statistics.median(times)


def request_rows(repeat: int) -> list[dict]:
    rows = []
    for turns in (1, 11, 101):
        raw = converse_body(turns)

        def full(raw: bytes = raw) -> None:
            body = parse_json_body(raw)
            validate_input("bedrock-runtime", "Converse", body, {"modelId": MODEL})
            check_converse(body)
            chat_request_from_converse(MODEL, body)

        baseline = median_us(lambda raw=raw: json.loads(raw), repeat)
        wire = median_us(full, repeat)
        rows.append(
            {
                "turns": turns,
                "bytes": len(raw),
                "json_us": baseline,
                "wire_us": wire,
                "ratio": wire / baseline,
            }
        )
    return rows


def stream_row(repeat: int) -> dict:
    events = [MessageStart()] + [BlockDelta(0, text=" token") for _ in range(200)]
    events += [BlockStop(0), MessageStop("end_turn"), Metadata(Usage(50, 200), 900)]

    def baseline() -> None:
        for event in events:
            pair = converse_stream_event(event)
            if pair is not None:
                json.dumps(pair[1])

    def framed() -> None:
        for event in events:
            pair = converse_stream_event(event)
            if pair is not None:
                encode_event(*pair)

    base, wire = median_us(baseline, repeat), median_us(framed, repeat)
    return {"events": len(events), "json_us": base, "framed_us": wire, "ratio": wire / base}


def write(rows: list[dict], stream: dict, repeat: int) -> None:
    RESULTS.mkdir(exist_ok=True)
    meta = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}",
        "load_average": os.getloadavg()[0],
        "repeat": repeat,
    }
    (RESULTS / "wire.json").write_text(
        json.dumps({**meta, "requests": rows, "stream": stream}, indent=2) + "\n"
    )
    lines = [
        "# Wire layer cost: validation + translation vs parsing, event-stream framing vs JSON",
        "",
        f"- when: {meta['when']}  machine: {meta['machine']}  load average: {meta['load_average']:.2f}"
        f"  (shared cores)  medians of {repeat} runs",
        "",
        "| Converse turns | body bytes | json.loads µs (baseline) | parse+validate+translate µs | ratio |",
        "|---|---|---|---|---|",
        *(
            f"| {r['turns']} | {r['bytes']} | {r['json_us']:.0f} | {r['wire_us']:.0f} | {r['ratio']:.1f} |"
            for r in rows
        ),
        "",
        "| stream events | json.dumps µs (baseline) | event-stream frames µs | ratio | µs per event |",
        "|---|---|---|---|---|",
        f"| {stream['events']} | {stream['json_us']:.0f} | {stream['framed_us']:.0f} | {stream['ratio']:.1f} "
        f"| {stream['framed_us'] / stream['events']:.1f} |",
        "",
    ]
    (RESULTS / "wire.md").write_text("\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    rows = request_rows(args.repeat)
    write(rows, stream_row(args.repeat), args.repeat)


if __name__ == "__main__":
    main()
