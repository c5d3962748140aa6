"""ApplyGuardrail through boto3's ``bedrock-runtime`` client: the non-model policies end to end.

Word filters (custom words, plurals, the managed profanity list), PII with BLOCK / ANONYMIZE /
NONE per source, custom regexes, outputScope, text units (in the response and recorded per
tenant), versions, unknown guardrails and versions, and a regex that cannot hang the gateway.
"""

from __future__ import annotations

import time

import pytest

from tests.model_layer.gateway_harness import build_gateway
from tests.model_layer.guardrails.test_control_plane import client
from tests.model_layer.live import serve_app

DEFINITION = {
    "name": "apply-test",
    "wordPolicyConfig": {
        "wordsConfig": [{"text": "refund"}, {"text": "gift card"}],
        "managedWordListsConfig": [{"type": "PROFANITY"}],
    },
    "sensitiveInformationPolicyConfig": {
        "piiEntitiesConfig": [
            {"type": "EMAIL", "action": "ANONYMIZE"},
            {"type": "US_SOCIAL_SECURITY_NUMBER", "action": "BLOCK"},
            {"type": "PHONE", "action": "ANONYMIZE", "inputAction": "NONE"},
        ],
        "regexesConfig": [{"name": "order_id", "pattern": r"\bORD-\d{6}\b", "action": "ANONYMIZE"}],
    },
    "blockedInputMessaging": "Blocked input.",
    "blockedOutputsMessaging": "Blocked output.",
}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    gw = build_gateway(tmp_path_factory.mktemp("apply"))
    with serve_app(gw.app) as base_url:
        bedrock = client(gw, base_url)
        gid = bedrock.create_guardrail(**DEFINITION)["guardrailId"]
        yield gw, client(gw, base_url, "bedrock-runtime"), bedrock, gid


def apply(runtime, gid, text, source="INPUT", version="DRAFT", **kw):
    return runtime.apply_guardrail(
        guardrailIdentifier=gid,
        guardrailVersion=version,
        source=source,
        content=[{"text": {"text": text}}],
        **kw,
    )


def test_custom_words_and_plurals_block(live):
    _, runtime, _, gid = live
    r = apply(runtime, gid, "Can I get two Gift Cards and a refund?")
    assert r["action"] == "GUARDRAIL_INTERVENED"
    assert r["outputs"] == [{"text": "Blocked input."}]
    words = r["assessments"][0]["wordPolicy"]
    assert [w["match"] for w in words["customWords"]] == ["Gift Cards", "refund"]
    assert all(w["action"] == "BLOCKED" for w in words["customWords"])
    assert r["usage"]["wordPolicyUnits"] == 1 and r["actionReason"]


def test_managed_profanity_blocks_on_output(live):
    _, runtime, _, gid = live
    r = apply(runtime, gid, "That is total bullshit.", source="OUTPUT")
    assert r["outputs"] == [{"text": "Blocked output."}]
    managed = r["assessments"][0]["wordPolicy"]["managedWordLists"]
    assert managed == [{"match": "bullshit", "type": "PROFANITY", "action": "BLOCKED", "detected": True}]


def test_pii_anonymize_and_regex_masks(live):
    _, runtime, _, gid = live
    r = apply(runtime, gid, "Mail jo@example.com about ORD-123456 or call 415-555-0132.", source="OUTPUT")
    assert r["action"] == "GUARDRAIL_INTERVENED"
    assert r["outputs"] == [{"text": "Mail {EMAIL} about {order_id} or call {PHONE}."}]
    si = r["assessments"][0]["sensitiveInformationPolicy"]
    assert {(e["type"], e["action"]) for e in si["piiEntities"]} == {
        ("EMAIL", "ANONYMIZED"),
        ("PHONE", "ANONYMIZED"),
    }
    assert si["regexes"] == [
        {
            "name": "order_id",
            "regex": r"\bORD-\d{6}\b",
            "match": "ORD-123456",
            "action": "ANONYMIZED",
            "detected": True,
        }
    ]
    assert r["usage"]["sensitiveInformationPolicyUnits"] == 1


def test_detect_only_action_reports_without_intervening(live):
    _, runtime, _, gid = live
    r = apply(runtime, gid, "My number is 415-555-0132.")  # PHONE inputAction NONE
    assert r["action"] == "NONE" and r["outputs"] == []
    phone = r["assessments"][0]["sensitiveInformationPolicy"]["piiEntities"]
    assert phone == [{"match": "415-555-0132", "type": "PHONE", "action": "NONE", "detected": True}]


def test_ssn_blocks_and_clean_text_passes(live):
    _, runtime, _, gid = live
    blocked = apply(runtime, gid, "my ssn is 123-45-6789")
    assert blocked["outputs"] == [{"text": "Blocked input."}]
    clean = apply(runtime, gid, "What are your opening hours?")
    assert clean["action"] == "NONE" and clean["assessments"] == [] and clean["outputs"] == []
    assert clean["guardrailCoverage"]["textCharacters"] == {"guarded": 28, "total": 28}


def test_versions_apply_their_own_definition(live):
    _, runtime, bedrock, gid = live
    version = bedrock.create_guardrail_version(guardrailIdentifier=gid)["version"]
    bedrock.update_guardrail(
        guardrailIdentifier=gid, **{**DEFINITION, "wordPolicyConfig": {"wordsConfig": [{"text": "banana"}]}}
    )
    assert apply(runtime, gid, "a banana")["action"] == "GUARDRAIL_INTERVENED"  # the DRAFT changed at once
    assert apply(runtime, gid, "a banana", version=version)["action"] == "NONE"
    assert apply(runtime, gid, "a refund", version=version)["action"] == "GUARDRAIL_INTERVENED"
    bedrock.update_guardrail(guardrailIdentifier=gid, **DEFINITION)


def test_unknown_guardrail_version_and_tenant(live):
    gw, runtime, _, gid = live
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        apply(runtime, "abcdefabcdef", "hi")
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        apply(runtime, gid, "hi", version="99")
    with pytest.raises(runtime.exceptions.ValidationException):
        apply(runtime, gid, "hi", version="latest")
    other = client(gw, runtime.meta.endpoint_url, "bedrock-runtime", keys=gw.issue_keys("stranger"))
    with pytest.raises(other.exceptions.ResourceNotFoundException):
        apply(other, gid, "hi")


def test_output_scope_full_and_qualifiers(live):
    _, runtime, _, gid = live
    content = [
        {"text": {"text": "refund policy text", "qualifiers": ["grounding_source"]}},
        {"text": {"text": "hello there", "qualifiers": ["guard_content"]}},
    ]
    r = runtime.apply_guardrail(
        guardrailIdentifier=gid, guardrailVersion="DRAFT", source="INPUT", content=content, outputScope="FULL"
    )
    assert r["action"] == "NONE"  # the grounding source is context, not checked for words
    assert r["guardrailCoverage"]["textCharacters"] == {"guarded": 11, "total": 29}


def test_units_are_recorded_per_tenant(live):
    gw, runtime, _, gid = live
    store = gw.parts.service.guardrails.store
    before = store.units("acme")
    apply(runtime, gid, "x" * 2500)  # 3 units for each of the two policies
    after = store.units("acme")
    assert after["evaluations"] == before["evaluations"] + 1
    assert after["word_policy_units"] - before["word_policy_units"] == 3
    assert after["sensitive_information_policy_units"] - before["sensitive_information_policy_units"] == 3


def test_a_backtracking_regex_cannot_hang_the_gateway(monkeypatch):
    """A pattern that slipped past the configuration probe still gives up at its time limit."""
    import regex

    from model_layer.guardrails.policies import sensitive
    from model_layer.guardrails.policies.base import TextBlock

    monkeypatch.setattr(sensitive, "compile_guarded", lambda p: regex.compile(p))  # skip the probe
    checker = sensitive.SensitiveChecker(
        {"regexesConfig": [{"name": "slow", "pattern": r"(a+)+$", "action": "ANONYMIZE"}]}
    )
    started = time.monotonic()
    result = checker.check("INPUT", [TextBlock("a" * 4096 + "!")])
    assert time.monotonic() - started < 30  # a hang guard on a loaded machine, not a timing claim
    (finding,) = result.findings
    assert finding.blocks and finding.entry["action"] == "BLOCKED"  # unknown matches: fail closed
