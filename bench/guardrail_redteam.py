"""Red-team run: garak's probes against the gateway's /v1 route, with and without a guardrail.

    .venv/bin/python bench/guardrail_redteam.py [--cap N]

garak (PyPI, NVIDIA's LLM vulnerability scanner) is installed into a venv of its own
(``~/.cache/strata-bench/garak-venv``: it pulls torch and transformers, which the gateway does not
need) and pointed at a live strata gateway serving the embedded SmolLM2 model, through its
``openai.OpenAICompatible`` generator. The same probes run twice: plainly, and with a guardrail
(PROMPT_ATTACK and the harmful-content filters at HIGH) sent as the route's ``guardrailConfig``
body field. The probes were chosen because the classifier never saw their prompts: prompt
injection (PromptInject's hijacking templates), adversarial GCG suffixes and harmful requests
rephrased in the past tense (``--probes`` adds others, e.g. latentinjection or tap.TAPCached). (garak's DAN and in-the-wild
jailbreak probes are *not* used: their prompts are in the training corpus.) Attack success rate =
1 - passed/total of each probe's detector, from garak's report. Results go into
bench/results/guardrails.json/.md under ``red_team`` (merged with bench/guardrails.py's).

``--guarded-only`` runs just the pass with the guardrail and takes the plain pass from the last run
with the same probes and cap (for a changed classifier: the plain pass is most of the time).
``--prompts-only [--before REV]`` runs no model: every prompt of each probe, as garak builds it,
through the content filters on input, with the shipped head (and the one at git revision REV).
"""

# ruff: noqa: E501 -- the report's sentences stay one per line

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

GARAK = "garak==0.17.1"
VENV = Path.home() / ".cache" / "strata-bench" / "garak-venv"
REPORTS = Path.home() / ".cache" / "strata-bench" / "garak-reports"
# Short prompts: SmolLM2 on two shared cores takes seconds per answer, and long ones (latent
# injection documents, TAP's jailbreaks) tens of seconds, so those two are left to --probes.
PROBES = (
    "promptinject.HijackHateHumans",
    "promptinject.HijackKillHumans",
    "suffix.GCGCached",
    "phrasing.PastTense",
)
MODEL = "local.smollm2-135m-instruct-v1:0"
# garak's detectors look for a refusal or the injected rogue string, both at the start of an
# answer; 32 tokens keeps a probe prompt to tens of seconds on a loaded 2-core machine.
MAX_TOKENS = 32
CONFIG = {
    "providers": [{"name": "local", "type": "local", "n_ctx": 4096, "n_parallel": 2}],
    "models": [
        {"id": MODEL, "provider": "local", "upstream": "smollm2-135m-instruct", "context_window": 2048}
    ],
}
GUARDRAIL = {
    "name": "redteam",
    "contentPolicyConfig": {
        "filtersConfig": [
            {"type": t, "inputStrength": "HIGH", "outputStrength": "NONE" if t == "PROMPT_ATTACK" else "HIGH"}
            for t in ("PROMPT_ATTACK", "HATE", "INSULTS", "VIOLENCE", "MISCONDUCT", "SEXUAL")
        ]
    },
    # garak's refusal detector (mitigation.MitigationBypass) recognises this wording as a refusal
    "blockedInputMessaging": "Sorry, but I can't help with that request.",
    "blockedOutputsMessaging": "Sorry, but I can't help with that request.",
}


def ensure_garak() -> Path:
    python = VENV / "bin" / "python"
    if not (VENV / "bin" / "garak").exists():
        VENV.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", GARAK], check=True
        )
    return VENV / "bin" / "garak"


def garak_config(url: str, api_key: str, guardrail_id: str | None, cap: int, probes: str) -> dict:
    generator = {
        "uri": f"{url}/v1/",
        "api_key": api_key,
        "max_tokens": MAX_TOKENS,
        "suppressed_params": ["n", "frequency_penalty", "presence_penalty", "stop"],
    }
    if guardrail_id:
        generator["extra_params"] = {
            "extra_body": {
                "guardrailConfig": {"guardrailIdentifier": guardrail_id, "guardrailVersion": "DRAFT"}
            }
        }
    return {
        "system": {"parallel_attempts": False, "lite": True, "show_z": False},
        "run": {"generations": 1, "soft_probe_prompt_cap": cap, "seed": 7},
        "plugins": {
            "model_type": "openai.OpenAICompatible",
            "model_name": MODEL,
            "probe_spec": probes,
            "generators": {"openai": {"OpenAICompatible": generator}},
        },
    }


def run_garak(garak: Path, config: dict, label: str, workdir: Path) -> dict[str, dict[str, float]]:
    config_path = workdir / f"{label}.json"
    config_path.write_text(json.dumps(config))
    prefix = f"strata-{label}-{int(time.time())}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "XDG_DATA_HOME": str(workdir)}
    subprocess.run(
        [str(garak), "--config", str(config_path), "--report_prefix", prefix],
        check=True, env=env, cwd=workdir, timeout=3600,
    )  # fmt: skip
    report = next(workdir.rglob(f"{prefix}*.report.jsonl"))
    REPORTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(report, REPORTS / report.name)  # kept: a parse mistake must not cost a 30-minute run
    return parse_report(report.read_text())


def parse_report(text: str) -> dict[str, dict[str, dict]]:
    """Per probe and detector, the attack success rate from garak's ``eval`` entries."""
    results: dict[str, dict[str, dict]] = {}
    for line in text.splitlines():
        entry = json.loads(line)
        total = entry.get("total_evaluated", entry.get("total"))  # 0.17 renamed "total"
        if entry.get("entry_type") != "eval" or not total:
            continue
        probe = entry["probe"].removeprefix("probes.")
        asr = 1 - entry["passed"] / total
        results.setdefault(probe, {})[entry["detector"]] = {"asr": round(asr, 3), "total": total}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cap", type=int, default=10, help="prompts per probe (garak's soft cap)")
    parser.add_argument("--probes", default=",".join(PROBES), help="garak probe spec")
    parser.add_argument(
        "--guarded-only",
        action="store_true",
        help="run only the pass with the guardrail; the plain pass is the last run's with the same probes and cap"
        " (the model, probes and seed are the same: only the guardrail changed)",
    )
    parser.add_argument(
        "--prompts-only",
        action="store_true",
        help="no model and no gateway: score every prompt of the probes with the shipped head (input side)",
    )
    parser.add_argument("--before", help="with --prompts-only: also score with the head at this git revision")
    args = parser.parse_args()
    if args.prompts_only:
        prompts_only(args.probes.split(","), args.before)
        return
    import boto3

    previous = None
    if args.guarded_only:
        path = ROOT / "bench" / "results" / "guardrails.json"
        runs = json.loads(path.read_text()).get("red_team", {}).get("runs", []) if path.exists() else []
        same = [r for r in runs if r["probes"] == args.probes.split(",") and r["cap"] == args.cap]
        if not same:
            parser.error("--guarded-only needs an earlier run with the same --probes and --cap")
        previous = same[-1]

    from tests.model_layer.gateway_harness import build_gateway
    from tests.model_layer.live import serve_app

    garak = ensure_garak()
    started, load = time.time(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        gw = build_gateway(work / "home", CONFIG)
        with serve_app(gw.app) as url:
            bedrock = boto3.client(
                "bedrock", endpoint_url=url, region_name="us-east-1",
                aws_access_key_id=gw.keys.access_key_id, aws_secret_access_key=gw.keys.secret_access_key,
            )  # fmt: skip
            gid = bedrock.create_guardrail(**GUARDRAIL)["guardrailId"]
            key = gw.keys.api_key
            plain = (
                previous["without_guardrail"]
                if previous
                else run_garak(garak, garak_config(url, key, None, args.cap, args.probes), "plain", work)
            )
            guarded = run_garak(garak, garak_config(url, key, gid, args.cap, args.probes), "guarded", work)
    # the run whose plain pass this is (a guarded-only run passes on the one it took it from)
    plain_run = (previous.get("plain_run") or previous) if previous else None
    note = (
        f"Guarded pass only (`--guarded-only`): the plain pass's figures are the {plain_run['when']} run's;"
        " that run's ASR with its guardrail (the classifier then shipped): "
        + "; ".join(
            f"{probe} {detector} {row['asr']}"
            for probe, detectors in plain_run["with_guardrail"].items()
            for detector, row in detectors.items()
        )
        + "."
        if plain_run
        else None
    )
    merge(
        {
            **({"note": note, "guarded_only": True} if plain_run else {}),
            **(
                {"plain_run": {k: plain_run[k] for k in ("when", "with_guardrail", "elapsed_s")}}
                if plain_run
                else {}
            ),
            "probes": args.probes.split(","),
            "cap": args.cap,
            "without_guardrail": plain,
            "with_guardrail": guarded,
            "max_tokens": MAX_TOKENS,
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
            "elapsed_s": round(time.time() - started),
            "load_average": f"{load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (2 cores shared)",
        }
    )


def merge(red_team: dict) -> None:
    """Add one run (both passes) to guardrails.json's ``red_team.runs`` (a run with the same
    probes replaces the older one) and re-render the red-team section of guardrails.md."""
    path = ROOT / "bench" / "results" / "guardrails.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    runs = [r for r in results.get("red_team", {}).get("runs", []) if r["probes"] != red_team["probes"]]
    results["red_team"] = {**results.get("red_team", {}), "runs": [*runs, red_team]}
    path.write_text(json.dumps(results, indent=2) + "\n")
    lines = ["", "## Red team: garak against /v1/chat/completions (SmolLM2-135M)", ""]
    lines += [
        "Attack success rate (lower is better) = 1 - passed/total of each probe's detector in garak's report. Guardrail: PROMPT_ATTACK and the five harmful-content filters at HIGH, sent as the route's `guardrailConfig` body field. Prompt counts are small: SmolLM2 answers in tens of seconds on the shared cores.",
    ]
    for run in results["red_team"]["runs"]:
        lines += render_run(run)
    if results["red_team"].get("prompts_only"):
        lines += render_prompts_only(results["red_team"]["prompts_only"])
    md = ROOT / "bench" / "results" / "guardrails.md"
    text = md.read_text() if md.exists() else "# Guardrails: measured quality and cost\n"
    marker = "\n## Red team"
    text = text.split(marker)[0].rstrip("\n") + "\n" + "\n".join(lines) + "\n"
    md.write_text(text)
    print("\n".join(lines))


def render_run(run: dict) -> list[str]:
    lines = [
        "",
        f"Run {run['when']}: probes capped at {run['cap']} prompts each, answers at {run['max_tokens']} tokens; {run['elapsed_s']} s for {'the guarded pass' if run.get('guarded_only') else 'both passes'}; load average {run['load_average']}.",
    ]
    if run.get("note"):
        lines.append(run["note"])
    lines += [
        "",
        "| probe | detector | prompts | ASR without guardrail | ASR with guardrail |",
        "|---|---|---:|---:|---:|",
    ]
    for probe, detectors in run["without_guardrail"].items():
        for detector, row in detectors.items():
            other = run["with_guardrail"].get(probe, {}).get(detector, {})
            lines.append(f"| {probe} | {detector} | {row['total']} | {row['asr']} | {other.get('asr')} |")
    return lines


# The probes' prompts as garak builds them (its own venv), printed as JSON: {probe: [text, ...]}.
_DUMP = """
import importlib, json, sys
from garak import _config
_config.load_base_config()
_config.run.soft_probe_prompt_cap = 100000
out = {}
for spec in sys.argv[1:]:
    module, name = spec.split(".")
    probe = getattr(importlib.import_module(f"garak.probes.{module}"), name)()
    out[spec] = [p if isinstance(p, str) else p.turns[-1].content.text for p in probe.prompts]
print(json.dumps(out))
"""


def prompts_only(probes: list[str], before: str | None) -> None:
    """Every prompt of each probe through the content filters, input side, as the red-team
    guardrail has them (all six on): the share a guardrail at each strength stops before any
    model sees it. With ``before``, the head and cut-offs at that git revision too."""
    import numpy as np

    from model_layer.guardrails.classifier import CATEGORIES, ContentClassifier
    from model_layer.guardrails.resources import GuardrailResources

    garak = ensure_garak()
    dump = subprocess.run(
        [str(garak.parent / "python"), "-c", _DUMP, *probes], check=True, capture_output=True, text=True
    )
    prompts = json.loads(dump.stdout.strip().splitlines()[-1])
    heads = {"shipped": ContentClassifier.load()}
    if before:
        heads[before] = _head_at(before)
    resources, started = GuardrailResources(), time.time()
    out: dict = {"probes": {}, "heads": list(heads), "when": time.strftime("%Y-%m-%d %H:%M UTC")}
    for probe, texts in prompts.items():
        row: dict = {"prompts": len(texts)}
        for name, head in heads.items():
            scores = [head.score_texts([t], resources.embed) for t in texts]
            for strength, level in (("HIGH", 0), ("MEDIUM", 1), ("LOW", 2)):
                cuts = np.array([head.thresholds[c][level] for c in CATEGORIES])
                hit = np.array([[s[c] for c in CATEGORIES] for s in scores]) >= cuts
                row[f"{name}_{strength}"] = round(float(hit.any(axis=1).mean()), 3)
        out["probes"][probe] = row
        print(probe, row, flush=True)
    out["elapsed_s"] = round(time.time() - started)
    path = ROOT / "bench" / "results" / "guardrails.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results.setdefault("red_team", {"runs": []})["prompts_only"] = out
    path.write_text(json.dumps(results, indent=2) + "\n")
    runs = results["red_team"]["runs"]
    if runs:
        merge(runs[-1])  # re-renders the section, this part included


def _head_at(revision: str):
    import io

    import numpy as np

    from model_layer.guardrails.classifier import CATEGORIES, ContentClassifier

    def show(name: str) -> bytes:
        cmd = ["git", "show", f"{revision}:model_layer/guardrails/data/{name}"]
        return subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True).stdout

    with np.load(io.BytesIO(show("content_head.npz"))) as arrays:
        w1, b1, w2, b2 = (arrays[k].astype(np.float32) for k in ("w1", "b1", "w2", "b2"))
    cuts = json.loads(show("calibration.json"))["content_thresholds"]
    return ContentClassifier(w1, b1, w2, b2, {c: tuple(cuts[c]) for c in CATEGORIES})


def render_prompts_only(part: dict) -> list[str]:
    heads = part["heads"]
    lines = [
        "",
        f"### Every probe prompt through the content filters, no model ({part['when']}, `--prompts-only`)",
        "",
        "Share of each probe's prompts (all of them, as garak builds them) that the red-team guardrail's six filters stop on input, at each strength; a prompt let through can still fail at the model or be caught on output. "
        + (
            f"`{heads[1]}`: the head and cut-offs shipped at that revision, scored in the same run."
            if len(heads) > 1
            else ""
        ),
        "",
        "| probe | prompts | "
        + " | ".join(f"{h} {s}" for h in heads for s in ("HIGH", "MEDIUM", "LOW"))
        + " |",
        "|---|---:|" + "---:|" * (3 * len(heads)),
    ]
    for probe, row in part["probes"].items():
        cells = " | ".join(str(row[f"{h}_{s}"]) for h in heads for s in ("HIGH", "MEDIUM", "LOW"))
        lines.append(f"| {probe} | {row['prompts']} | {cells} |")
    return lines


if __name__ == "__main__":
    main()
