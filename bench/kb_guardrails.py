# ruff: noqa: E501 -- the report's sentences and table rows stay one per line
"""Guardrails on knowledge-base queries, measured against the same calls without one, in one run.

    .venv/bin/python bench/kb_guardrails.py [--rounds N] [--embedded N]

Writes bench/results/kb_guardrails.md and .json. A live gateway on loopback, driven by boto3
(SigV4), over the labelled KB corpus (bench/data/kb, both sets: 80 documents, 155 questions, all
of them ordinary support questions) with the real MiniLM embeddings and embedded Chroma.

The guardrails a support KB might use: ``pii_words`` (custom words, EMAIL/PHONE masked, card
numbers blocked: no model-scored policy) and ``full_high`` / ``full_medium`` / ``full_low`` (that
plus a denied topic, the five harmful-content filters and PROMPT_ATTACK at that strength: MiniLM
and the shipped classifier head).

1. **Retrieve**, every question once without a guardrail (the baseline) and once with each, calls
   interleaved so load changes fall on all sides alike: p50/p95 latency, how many of these
   ordinary questions each guardrail intervened on (and which policy fired, by ApplyGuardrail on
   the same text), and recall@5.
2. **RetrieveAndGenerate(Stream)** with the deterministic echo model (the fake provider, so the
   model's time does not drown the guardrail's), on questions ``full_low`` let through, each made
   new by a ticket number: total and time to the first output text, with and without
   ``full_low`` (the answer is held until it passed). Every strength does the same work.
3. ``--embedded N``: RetrieveAndGenerate with the embedded SmolLM2-135M on N of those questions,
   with and without ``full_low``: what the guardrail adds to a real answer. Off by default: with
   no prompt reuse one answer took 5 s at load 2 and 116 s at load 7 on the shared 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from kb_data import load, write_corpus  # noqa: E402

from model_layer.config import DEFAULTS  # noqa: E402
from model_layer.knowledge.generation import DEFAULT_TEMPLATE  # noqa: E402

RESULTS = ROOT / "bench" / "results"
EMBED_ARN = "arn:aws:bedrock:us-east-1::foundation-model/amazon.minilm-l6-v2:0"
SMOLLM = "meta.smollm2-135m-instruct-v1:0"
ECHO = "fake.echo-v1:0"
PII_WORDS = {
    "wordPolicyConfig": {"wordsConfig": [{"text": "chargeback scheme"}, {"text": "internal memo"}]},
    "sensitiveInformationPolicyConfig": {
        "piiEntitiesConfig": [
            {"type": "EMAIL", "action": "ANONYMIZE"},
            {"type": "PHONE", "action": "ANONYMIZE"},
            {"type": "CREDIT_DEBIT_CARD_NUMBER", "action": "BLOCK"},
        ]
    },
}
TOPIC = {
    "topicsConfig": [
        {
            "name": "Investment advice",
            "definition": "Recommendations on which stocks, funds or cryptocurrencies to buy or sell.",
            "examples": ["Which shares should I buy?"],
            "type": "DENY",
        }
    ]
}
HARMFUL = ("HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT")


def model_scored(strength: str) -> dict[str, Any]:
    """The denied topic, the harmful-content filters and PROMPT_ATTACK, all at ``strength``."""
    filters = [{"type": t, "inputStrength": strength, "outputStrength": strength} for t in HARMFUL]
    filters.append({"type": "PROMPT_ATTACK", "inputStrength": strength, "outputStrength": "NONE"})
    return {"topicPolicyConfig": TOPIC, "contentPolicyConfig": {"filtersConfig": filters}}


GUARDRAILS = {
    "pii_words": PII_WORDS,
    # full_low first: the guardrails share a cache of text embeddings, so only the first of them
    # to check a question pays for embedding it (as a new user question would); the others' times
    # are not comparable and the report says so.
    **{f"full_{s.lower()}": {**PII_WORDS, **model_scored(s)} for s in ("LOW", "MEDIUM", "HIGH")},
}
TIMED = "full_low"  # the RAG timings' guardrail: the same work as the others, fewest interventions


def gateway_config() -> dict[str, Any]:
    config = json.loads(json.dumps(DEFAULTS))
    config["providers"].append({"name": "echo", "type": "fake"})
    config["models"].append({"id": ECHO, "provider": "echo"})
    return config


def clients(url: str, keys: Any) -> dict[str, Any]:
    session = boto3.Session(
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
        region_name="us-east-1",
    )
    config = Config(retries={"max_attempts": 1}, read_timeout=300)
    return {
        s: session.client(s, endpoint_url=url, config=config)
        for s in ("bedrock", "bedrock-runtime", "bedrock-agent", "bedrock-agent-runtime")
    }


def build_kb(agent: Any, folder: Path) -> str:
    kb_id = agent.create_knowledge_base(
        name="bench",
        roleArn="arn:aws:iam::000000000000:role/bench",
        knowledgeBaseConfiguration={
            "type": "VECTOR",
            "vectorKnowledgeBaseConfiguration": {"embeddingModelArn": EMBED_ARN},
        },
    )["knowledgeBase"]["knowledgeBaseId"]
    source = {
        "type": "WEB",
        "webConfiguration": {
            "sourceConfiguration": {"urlConfiguration": {"seedUrls": [{"url": folder.as_uri()}]}}
        },
    }
    ds_id = agent.create_data_source(knowledgeBaseId=kb_id, name="docs", dataSourceConfiguration=source)[
        "dataSource"
    ]["dataSourceId"]
    job = agent.start_ingestion_job(knowledgeBaseId=kb_id, dataSourceId=ds_id)["ingestionJob"]
    deadline = time.monotonic() + 900
    while job["status"] not in ("COMPLETE", "FAILED", "STOPPED"):
        if time.monotonic() > deadline:
            raise SystemExit("ingestion did not finish in 15 minutes")
        time.sleep(0.2)
        job = agent.get_ingestion_job(
            knowledgeBaseId=kb_id, dataSourceId=ds_id, ingestionJobId=job["ingestionJobId"]
        )["ingestionJob"]
    if job["status"] != "COMPLETE":
        raise SystemExit(f"ingestion {job['status']}: {job.get('failureReasons')}")
    return kb_id


def timed(call: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    out = call()
    return (time.perf_counter() - started) * 1000, out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def fired(br: Any, gid: str, text: str) -> list[str]:
    """Which policies intervene on ``text`` as INPUT (ApplyGuardrail: the same evaluation)."""
    r = br.apply_guardrail(
        guardrailIdentifier=gid, guardrailVersion="DRAFT", source="INPUT", content=[{"text": {"text": text}}]
    )
    out: list[str] = []
    for a in r["assessments"]:
        out += [f"{f['type']} {f['confidence']}" for f in a.get("contentPolicy", {}).get("filters", [])]
        out += [f"topic {t['name']}" for t in a.get("topicPolicy", {}).get("topics", [])]
        out += [k for k in ("wordPolicy", "sensitiveInformationPolicy") if k in a]
    return out


def bench_retrieve(runtime: Any, kb_id: str, ids: dict[str, str], names: dict[str, str]) -> dict[str, Any]:
    questions = load(("original", "extension"))["questions"]
    sides = {"none": None, **ids}
    lat: dict[str, list[float]] = {s: [] for s in sides}
    hits: dict[str, int] = dict.fromkeys(sides, 0)
    interventions: dict[str, list[str]] = {s: [] for s in sides}
    for q in questions:
        for side, gid in sides.items():
            extra = (
                {}
                if gid is None
                else {"guardrailConfiguration": {"guardrailId": gid, "guardrailVersion": "DRAFT"}}
            )
            ms, r = timed(
                lambda e=extra, t=q["q"]: runtime.retrieve(
                    knowledgeBaseId=kb_id, retrievalQuery={"text": t}, **e
                )
            )
            lat[side].append(ms)
            found = [
                names.get(x["location"]["webLocation"]["url"].rsplit("/", 1)[-1])
                for x in r["retrievalResults"][:5]
            ]
            hits[side] += bool(set(found) & set(q["rel"]))
            if r.get("guardrailAction") == "INTERVENED":
                interventions[side].append(q["q"])
    return {
        "questions": len(questions),
        "sides": {
            s: {
                "p50_ms": pct(lat[s], 0.5),
                "p95_ms": pct(lat[s], 0.95),
                "recall_at_5": round(hits[s] / len(questions), 3),
                "interventions": interventions[s],
            }
            for s in sides
        },
    }


def rag_once(
    runtime: Any,
    kb_id: str,
    model: str,
    question: str,
    gid: str | None,
    stream: bool,
    template: str | None = None,
    **inference: Any,
) -> dict[str, Any]:
    generation: dict[str, Any] = {}
    if template is not None:
        generation["promptTemplate"] = {"textPromptTemplate": template}
    if gid is not None:
        generation["guardrailConfiguration"] = {"guardrailId": gid, "guardrailVersion": "DRAFT"}
    if inference:
        generation["inferenceConfig"] = {"textInferenceConfig": inference}
    generation = {"generationConfiguration": generation} if generation else {}
    config = {
        "type": "KNOWLEDGE_BASE",
        "knowledgeBaseConfiguration": {"knowledgeBaseId": kb_id, "modelArn": model, **generation},
    }
    started = time.perf_counter()
    if not stream:
        r = runtime.retrieve_and_generate(input={"text": question}, retrieveAndGenerateConfiguration=config)
        return {
            "total_ms": (time.perf_counter() - started) * 1000,
            "action": r.get("guardrailAction"),
            "text": r["output"]["text"],
        }
    first, text, action = None, "", None
    for event in runtime.retrieve_and_generate_stream(
        input={"text": question}, retrieveAndGenerateConfiguration=config
    )["stream"]:
        if "output" in event:
            first = first or time.perf_counter()
            text += event["output"]["text"]
        elif "guardrail" in event:
            action = event["guardrail"]["action"]
    end = time.perf_counter()
    return {
        "total_ms": (end - started) * 1000,
        "first_ms": ((first or end) - started) * 1000,
        "action": action,
        "text": text,
    }


def bench_rag(runtime: Any, kb_id: str, gid: str, rounds: int, questions: list[str]) -> dict[str, Any]:
    """The echo model answers each question back; a ticket number makes every question (and so
    every answer) a text the guardrail has not embedded before, as a user's would be."""
    out: dict[str, Any] = {}
    tickets = iter(range(10_000, 10**9))
    for stream in (False, True):
        for g in (None, gid):  # warm both paths (engines loaded, connections open)
            rag_once(runtime, kb_id, ECHO, f"{questions[0]} (ticket {next(tickets)})", g, stream)
        runs: dict[str, list[dict[str, Any]]] = {"none": [], "guarded": []}
        for i in range(rounds):
            for side, g in (("none", None), ("guarded", gid)):
                question = f"{questions[i % len(questions)]} (ticket {next(tickets)})"
                runs[side].append(rag_once(runtime, kb_id, ECHO, question, g, stream))
        kind = "stream" if stream else "plain"
        for side, timed_runs in runs.items():
            out[f"{kind}_{side}_total_p50_ms"] = round(
                statistics.median(r["total_ms"] for r in timed_runs), 1
            )
            if stream:
                out[f"{kind}_{side}_first_text_p50_ms"] = round(
                    statistics.median(r["first_ms"] for r in timed_runs), 1
                )
            out[f"{kind}_{side}_interventions"] = sum(r["action"] == "INTERVENED" for r in timed_runs)
    return out


def bench_embedded(runtime: Any, kb_id: str, gid: str, n: int, questions: list[str]) -> dict[str, Any]:
    """Greedy decoding with a token cap, so a question gets much the same answer on both sides
    (the guardrail's checks are the difference). llama.cpp reuses a cached prompt prefix (and
    picks the slot whose cache is most alike), which would favour whichever side asks a question
    second: each call's prompt starts with its own ticket line, so no call reuses another's."""
    picked = [questions[i * len(questions) // n] for i in range(n)]
    inference = {"temperature": 0.0, "maxTokens": 150}
    tickets = iter(range(1, 10**9))

    def ask(question: str, g: str | None) -> dict[str, Any]:
        template = f"Ticket {next(tickets)}.\n{DEFAULT_TEMPLATE}"
        return rag_once(runtime, kb_id, SMOLLM, question, g, False, template, **inference)

    ask("Do you ship abroad?", None)  # load the engine outside the timing
    runs: dict[str, list[dict[str, Any]]] = {"none": [], "guarded": []}
    for i, question in enumerate(picked):
        sides = [("none", None), ("guarded", gid)]
        for side, g in sides if i % 2 == 0 else sides[::-1]:  # each side first half the time
            runs[side].append(ask(question, g))
            print(f"embedded {side} {i + 1}/{n}: {runs[side][-1]['total_ms']:.0f} ms", flush=True)
    added = [g["total_ms"] - w["total_ms"] for g, w in zip(runs["guarded"], runs["none"], strict=True)]
    return {
        "questions": n,
        **{f"{s}_total_p50_ms": round(statistics.median(r["total_ms"] for r in runs[s]), 1) for s in runs},
        "added_p50_ms": round(statistics.median(added), 1),
        "same_answer": sum(
            g["text"] == w["text"] for g, w in zip(runs["guarded"], runs["none"], strict=True)
        ),
        "guarded_interventions": [
            (q, r["text"])
            for q, r in zip(picked, runs["guarded"], strict=True)
            if r["action"] == "INTERVENED"
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30, help="RetrieveAndGenerate calls per side")
    parser.add_argument(
        "--embedded", type=int, default=0, help="questions answered by SmolLM2 per side (0: none)"
    )
    args = parser.parse_args()
    from tests.model_layer.gateway_harness import build_gateway
    from tests.model_layer.live import serve_app

    result: dict[str, Any] = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_start": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        names = write_corpus(docs, ("original", "extension"))
        os.environ["STRATA_KB_FOLDER_ROOTS"] = str(docs)
        gw = build_gateway(Path(tmp) / "home", gateway_config())
        with serve_app(gw.app) as url:
            c = clients(url, gw.keys)
            started = time.perf_counter()
            kb_id = build_kb(c["bedrock-agent"], docs)
            result["ingest_s"] = round(time.perf_counter() - started, 1)
            ids = {
                name: c["bedrock"].create_guardrail(
                    name=name,
                    blockedInputMessaging="Sorry, I can't help with that.",
                    blockedOutputsMessaging="That answer was withheld.",
                    **policies,
                )["guardrailId"]
                for name, policies in GUARDRAILS.items()
            }
            runtime = c["bedrock-agent-runtime"]
            result["retrieve"] = bench_retrieve(runtime, kb_id, ids, names)
            for side, stats in result["retrieve"]["sides"].items():
                if side != "none":
                    why = [
                        p for q in stats["interventions"] for p in fired(c["bedrock-runtime"], ids[side], q)
                    ]
                    stats["fired"] = dict(Counter(why).most_common())
            blocked = set(result["retrieve"]["sides"][TIMED]["interventions"])
            passed = [q["q"] for q in load(("original", "extension"))["questions"] if q["q"] not in blocked]
            result["rag"] = bench_rag(runtime, kb_id, ids[TIMED], args.rounds, passed)
            result["load_end"] = os.getloadavg()
            write(result)  # the embedded model's part is slow on loaded cores: keep what is done
            if args.embedded:
                print("Retrieve and RAG written; now the embedded model", flush=True)
                result["embedded"] = bench_embedded(runtime, kb_id, ids[TIMED], args.embedded, passed)
                result["load_end"] = os.getloadavg()
                write(result)


def write(result: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "kb_guardrails.json").write_text(json.dumps(result, indent=2))
    load_s = ", ".join(f"{x:.2f}" for x in result["load_start"])
    load_e = ", ".join(f"{x:.2f}" for x in result["load_end"])
    r = result["retrieve"]
    lines = [
        "# Guardrails on knowledge-base queries",
        "",
        f"Run {result['at']} on {result['cpus']} CPUs shared with other engineers' work, load average {load_s} at the start, {load_e} at the end. `.venv/bin/python bench/kb_guardrails.py` (its docstring says what is measured). Data: bench/data/kb, both sets (PROVENANCE); ingestion took {result['ingest_s']} s.",
        "",
        f"## Retrieve: {r['questions']} ordinary support questions, each once per side, interleaved",
        "",
        "Baseline: the same Retrieve without a guardrail. `pii_words`: custom words, EMAIL/PHONE masked, card numbers blocked. `full_<strength>`: that plus a denied topic (investment advice), the five harmful-content filters and PROMPT_ATTACK at that strength (HIGH blocks LOW confidence and up, MEDIUM blocks MEDIUM and up, LOW blocks HIGH only). None of these questions should be stopped: every intervention is a false one. The guardrails share a cache of text embeddings and `full_low` checks each question first: times marked (warm) did not embed it and are not comparable. A stopped question is answered without retrieving, so recall@5 falls with every intervention.",
        "",
        "| guardrail | p50 ms | p95 ms | recall@5 | interventions | what fired (ApplyGuardrail on the same text) |",
        "|---|---|---|---|---|---|",
    ]
    for side, s in r["sides"].items():
        why = ", ".join(f"{k} ×{v}" for k, v in s.get("fired", {}).items()) or "-"
        warm = " (warm)" if side in ("full_medium", "full_high") else ""
        lines.append(
            f"| {side} | {s['p50_ms']}{warm} | {s['p95_ms']}{warm} | {s['recall_at_5']} | {len(s['interventions'])} of {r['questions']} | {why} |"
        )
    for side, s in r["sides"].items():
        if s["interventions"] and side != "full_high":
            lines.append(f"\n`{side}` stopped: " + "; ".join(f"'{q}'" for q in s["interventions"]))
    g = result["rag"]
    lines += [
        "",
        f"## RetrieveAndGenerate with the echo model (fake provider), with and without `{TIMED}`",
        "",
        f"Questions `{TIMED}` let through in the Retrieve run, each with a new ticket number so neither the question nor the echoed answer is a text the guardrail embedded before; the sides alternate. The guardrail's work: the question's check, then the answer's (one text unit, held until it passed).",
        "",
        f"| call | without p50 ms | with `{TIMED}` p50 ms | added ms |",
        "|---|---|---|---|",
    ]
    for label, key in (
        ("RetrieveAndGenerate total", "plain_{}_total_p50_ms"),
        ("RetrieveAndGenerateStream first text", "stream_{}_first_text_p50_ms"),
        ("RetrieveAndGenerateStream total", "stream_{}_total_p50_ms"),
    ):
        none, guarded = g[key.format("none")], g[key.format("guarded")]
        lines.append(f"| {label} | {none} | {guarded} | {guarded - none:.1f} |")
    lines += [
        "",
        f"Interventions with `{TIMED}` on these calls: {g['plain_guarded_interventions']} (plain), {g['stream_guarded_interventions']} (stream).",
    ]
    e = result.get("embedded")
    if not e:
        lines += ["", "The embedded model's part (`--embedded N`) was not run in this run."]
    if e:
        lines += [
            "",
            f"## RetrieveAndGenerate with the embedded SmolLM2-135M ({e['questions']} questions per side)",
            "",
            "Greedy decoding, at most 150 tokens; each prompt starts with its own ticket line, so llama.cpp reuses no other call's prompt (it did, and the side that asked a question second was 4 s faster); the sides take turns going first.",
            "",
            f"| without p50 ms | with `{TIMED}` p50 ms | added ms (median of the per-question differences) |",
            "|---|---|---|",
            f"| {e['none_total_p50_ms']} | {e['guarded_total_p50_ms']} | {e['added_p50_ms']} |",
            "",
            f"Same answer on both sides: {e['same_answer']} of {e['questions']}."
            + (
                " Where they differ (the ticket line changes the greedy answer), the difference is mostly answer length, not the guardrail: read the guardrail's own cost in the echo table above."
                if e["same_answer"] < e["questions"]
                else ""
            ),
            "",
            f"Interventions with `{TIMED}`: {len(e['guarded_interventions'])}."
            + "".join(f"\n\n- {q!r} answered {t[:200]!r}" for q, t in e["guarded_interventions"]),
        ]
    (RESULTS / "kb_guardrails.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
