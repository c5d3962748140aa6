"""A guardrail's definition: checked, stored, and shown back as GetGuardrail shows it.

CreateGuardrail and UpdateGuardrail bodies are first checked against botocore's model
(:func:`model_layer.wire.validate.validate_input`: lengths, enums, patterns, the 30-topic and
10,000-word limits); :func:`check_definition` adds what the model cannot say (a PROMPT_ATTACK
output strength must be NONE, duplicate topics or filters, regexes that do not compile or that
backtrack catastrophically, grounding thresholds over 0.99, policies this gateway does not run).
The definition is stored as the request's own JSON (``*Config`` members);
:func:`policies_for_get` renders it in GetGuardrail's shape (``topics``, ``filters``, … with every
default filled in), and :func:`effective` gives each policy its per-source action and enabled flag.
"""

from __future__ import annotations

from typing import Any, Literal

from model_layer.errors import ValidationException
from model_layer.guardrails.regexes import RegexError, compile_guarded

Source = Literal["INPUT", "OUTPUT"]

POLICY_MEMBERS = (
    "topicPolicyConfig",
    "contentPolicyConfig",
    "wordPolicyConfig",
    "sensitiveInformationPolicyConfig",
    "contextualGroundingPolicyConfig",
)
# Members of Create/UpdateGuardrail kept in the stored definition.
DEFINITION_MEMBERS = (
    "name",
    "description",
    *POLICY_MEMBERS,
    "blockedInputMessaging",
    "blockedOutputsMessaging",
    "kmsKeyId",
)
_UNSUPPORTED = {
    "automatedReasoningPolicyConfig": "Automated Reasoning policies are not supported by this gateway",
    "crossRegionConfig": "cross-Region inference for guardrails is not supported by this gateway",
}
MAX_GROUNDING_THRESHOLD = 0.99  # AWS's documented range is 0-0.99; the model only says >= 0


def definition_from_request(body: dict[str, Any]) -> dict[str, Any]:
    """The stored definition: the request's definition members, checked."""
    check_definition(body)
    return {k: body[k] for k in DEFINITION_MEMBERS if body.get(k) is not None}


def check_definition(body: dict[str, Any]) -> None:
    """The checks botocore's model cannot express; each error names its field, as AWS does."""
    for member, message in _UNSUPPORTED.items():
        if body.get(member) is not None:
            raise ValidationException(f"{member}: {message}")
    errors: list[str] = []
    _check_topics(body.get("topicPolicyConfig"), errors)
    _check_content(body.get("contentPolicyConfig"), errors)
    _check_words(body.get("wordPolicyConfig"), errors)
    _check_sensitive(body.get("sensitiveInformationPolicyConfig"), errors)
    _check_grounding(body.get("contextualGroundingPolicyConfig"), errors)
    if errors:
        n = len(errors)
        raise ValidationException(
            f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(errors)
        )


def _violation(value: Any, where: str, rule: object) -> str:
    shown = "" if value is None else f" '{value}'"
    return f"Value{shown} at '{where}' failed to satisfy constraint: {rule}"


def _duplicates(items: list[dict[str, Any]], key: str, where: str, errors: list[str], fold=str.lower):
    seen: set[str] = set()
    for i, item in enumerate(items, start=1):
        value = fold(item[key])
        if value in seen:
            errors.append(_violation(item[key], f"{where}.{i}.member.{key}", "duplicate"))
        seen.add(value)


def _check_topics(config: dict[str, Any] | None, errors: list[str]) -> None:
    if config:
        _duplicates(config["topicsConfig"], "name", "topicPolicyConfig.topicsConfig", errors)


def _check_content(config: dict[str, Any] | None, errors: list[str]) -> None:
    if not config:
        return
    filters = config["filtersConfig"]
    _duplicates(filters, "type", "contentPolicyConfig.filtersConfig", errors, fold=str)
    for i, f in enumerate(filters, start=1):
        if f["type"] == "PROMPT_ATTACK" and f["outputStrength"] != "NONE":
            where = f"contentPolicyConfig.filtersConfig.{i}.member.outputStrength"
            rule = "PROMPT_ATTACK applies to inputs only; its outputStrength must be NONE"
            errors.append(_violation(f["outputStrength"], where, rule))
        for side in ("inputModalities", "outputModalities"):
            if "IMAGE" in (f.get(side) or []):
                where = f"contentPolicyConfig.filtersConfig.{i}.member.{side}"
                errors.append(_violation("IMAGE", where, "this gateway filters text only"))


def _check_words(config: dict[str, Any] | None, errors: list[str]) -> None:
    if not config:
        return
    if not config.get("wordsConfig") and not config.get("managedWordListsConfig"):
        errors.append(_violation(None, "wordPolicyConfig", "give wordsConfig or managedWordListsConfig"))
    _duplicates(
        config.get("managedWordListsConfig") or [], "type", "wordPolicyConfig.managedWordListsConfig", errors
    )


def _check_sensitive(config: dict[str, Any] | None, errors: list[str]) -> None:
    if not config:
        return
    entities = config.get("piiEntitiesConfig") or []
    regexes = config.get("regexesConfig") or []
    if not entities and not regexes:
        rule = "give piiEntitiesConfig or regexesConfig"
        errors.append(_violation(None, "sensitiveInformationPolicyConfig", rule))
    _duplicates(entities, "type", "sensitiveInformationPolicyConfig.piiEntitiesConfig", errors, fold=str)
    _duplicates(regexes, "name", "sensitiveInformationPolicyConfig.regexesConfig", errors, fold=str)
    for i, r in enumerate(regexes, start=1):
        try:
            compile_guarded(r["pattern"])
        except RegexError as exc:
            where = f"sensitiveInformationPolicyConfig.regexesConfig.{i}.member.pattern"
            errors.append(_violation(None, where, exc))


def _check_grounding(config: dict[str, Any] | None, errors: list[str]) -> None:
    if not config:
        return
    filters = config["filtersConfig"]
    _duplicates(filters, "type", "contextualGroundingPolicyConfig.filtersConfig", errors, fold=str)
    for i, f in enumerate(filters, start=1):
        if f["threshold"] > MAX_GROUNDING_THRESHOLD:
            where = f"contextualGroundingPolicyConfig.filtersConfig.{i}.member.threshold"
            rule = f"Member must have value less than or equal to {MAX_GROUNDING_THRESHOLD}"
            errors.append(_violation(f["threshold"], where, rule))


# --- per-source settings ---------------------------------------------------------------------------


def effective(item: dict[str, Any], source: Source, default_action: str = "BLOCK") -> tuple[bool, str]:
    """``(enabled, action)`` of one configured topic/filter/word/entity for ``source``.

    ``inputAction``/``outputAction`` override the item's ``action`` (PII and regexes have one);
    ``inputEnabled``/``outputEnabled`` default to true.
    """
    side = "input" if source == "INPUT" else "output"
    enabled = item.get(f"{side}Enabled")
    action = item.get(f"{side}Action") or item.get("action") or default_action
    return (True if enabled is None else bool(enabled)), action


# --- GetGuardrail's shape ----------------------------------------------------------------------------


def _with_defaults(item: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    return {**defaults, **item}


def _io_defaults(action: str = "BLOCK") -> dict[str, Any]:
    return {"inputAction": action, "outputAction": action, "inputEnabled": True, "outputEnabled": True}


def policies_for_get(definition: dict[str, Any]) -> dict[str, Any]:
    """The ``*Policy`` members of GetGuardrail for a stored definition."""
    out: dict[str, Any] = {}
    topics = definition.get("topicPolicyConfig")
    if topics:
        out["topicPolicy"] = {"topics": [_with_defaults(t, _io_defaults()) for t in topics["topicsConfig"]]}
        if topics.get("tierConfig"):
            out["topicPolicy"]["tier"] = topics["tierConfig"]
    content = definition.get("contentPolicyConfig")
    if content:
        defaults = {**_io_defaults(), "inputModalities": ["TEXT"], "outputModalities": ["TEXT"]}
        out["contentPolicy"] = {"filters": [_with_defaults(f, defaults) for f in content["filtersConfig"]]}
        if content.get("tierConfig"):
            out["contentPolicy"]["tier"] = content["tierConfig"]
    words = definition.get("wordPolicyConfig")
    if words:
        out["wordPolicy"] = {
            "words": [_with_defaults(w, _io_defaults()) for w in words.get("wordsConfig") or []],
            "managedWordLists": [
                _with_defaults(m, _io_defaults()) for m in words.get("managedWordListsConfig") or []
            ],
        }
    sensitive = definition.get("sensitiveInformationPolicyConfig")
    if sensitive:
        out["sensitiveInformationPolicy"] = {
            "piiEntities": [_sensitive_item(e) for e in sensitive.get("piiEntitiesConfig") or []],
            "regexes": [_sensitive_item(r) for r in sensitive.get("regexesConfig") or []],
        }
    grounding = definition.get("contextualGroundingPolicyConfig")
    if grounding:
        out["contextualGroundingPolicy"] = {
            "filters": [{"action": "BLOCK", "enabled": True, **f} for f in grounding["filtersConfig"]]
        }
        if grounding.get("tierConfig"):
            out["contextualGroundingPolicy"]["tier"] = grounding["tierConfig"]
    return out


def _sensitive_item(item: dict[str, Any]) -> dict[str, Any]:
    action = item["action"]
    return {**_io_defaults(action), **item}
