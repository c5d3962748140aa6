"""Customer-support, product and how-to questions written for strata (2026-12-02), not taken from any dataset.

The content filters stopped ordinary shop-support questions because the benign side of the
corpus held almost no product, support or how-to text. ``support_examples.json`` is that kind of
text, by domain (outdoor gear, electronics, software, cooking, travel, banking, home and DIY,
cars and pets, sports and health, shop orders, questions naming model codes such as "HX-20",
error codes and firmware versions),
deliberately full of the words a naive classifier trips on: kill the process, shoot a photo,
angle of attack, strip the wire, harness, knife sharpening, bleach, blow up the mat, hang,
burn-in, trigger, ignore the warning, override the schedule. None is one of the 155 questions of
``bench/data/kb`` (the false-positive benchmark) nor of the regression test
(tests/model_layer/guardrails/test_support_questions.py). Its ``harmful`` list holds harmful
requests in the same settings, labelled, so the head learns intent rather than vocabulary.
"""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).with_name("support_examples.json")


def support_examples() -> list[tuple[str, tuple[str, ...], str]]:
    """``(text, labels, source)``: the benign support questions, then the labelled harmful ones."""
    data = json.loads(DATA.read_text("utf-8"))
    benign = [(t, (), "strata:support") for texts in data["benign"].values() for t in texts]
    harmful = [(h["text"], tuple(h["labels"]), "strata:support_harmful") for h in data["harmful"]]
    return benign + harmful
