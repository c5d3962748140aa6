"""Guardrails CRUD and versions through boto3's ``bedrock`` client against a live gateway (SigV4).

Create, get (DRAFT or a version), list (all, or the versions of one), update, version, delete (one
version or all), ARNs in AWS's format, tenant isolation, restart survival, idempotency tokens,
concurrent updates and versions, and invalid configurations answered in AWS's words.
"""

from __future__ import annotations

import re
import threading

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.model_layer.gateway_harness import build_gateway
from tests.model_layer.live import serve_app

BASIC = {
    "name": "support-bot",
    "description": "Keeps the support bot on track",
    "wordPolicyConfig": {
        "wordsConfig": [{"text": "refund"}],
        "managedWordListsConfig": [{"type": "PROFANITY"}],
    },
    "sensitiveInformationPolicyConfig": {"piiEntitiesConfig": [{"type": "EMAIL", "action": "ANONYMIZE"}]},
    "blockedInputMessaging": "Sorry, I can't help with that.",
    "blockedOutputsMessaging": "Sorry, I can't share that.",
}


def client(gw, base_url, service="bedrock", keys=None):
    keys = keys or gw.keys
    return boto3.client(
        service,
        endpoint_url=base_url,
        region_name="us-east-1",
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
    )


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    gw = build_gateway(tmp_path_factory.mktemp("gr"))
    with serve_app(gw.app) as base_url:
        yield gw, base_url


def test_create_get_update_version_list_delete(gateway):
    gw, url = gateway
    bedrock = client(gw, url)
    made = bedrock.create_guardrail(**BASIC)
    gid = made["guardrailId"]
    assert re.fullmatch(r"[a-z0-9]{12}", gid)
    assert made["guardrailArn"] == f"arn:aws:bedrock:us-east-1:000000000000:guardrail/{gid}"
    assert made["version"] == "DRAFT"
    got = bedrock.get_guardrail(guardrailIdentifier=gid)
    assert got["status"] == "READY" and got["version"] == "DRAFT" and got["name"] == "support-bot"
    defaults = {"inputAction": "BLOCK", "outputAction": "BLOCK", "inputEnabled": True, "outputEnabled": True}
    assert got["wordPolicy"]["words"][0] == {"text": "refund", **defaults}
    assert got["sensitiveInformationPolicy"]["piiEntities"][0]["inputAction"] == "ANONYMIZE"
    assert bedrock.create_guardrail_version(guardrailIdentifier=gid, description="v1")["version"] == "1"
    changed = {
        **BASIC,
        "blockedInputMessaging": "No.",
        "wordPolicyConfig": {"wordsConfig": [{"text": "coupon"}]},
    }
    bedrock.update_guardrail(guardrailIdentifier=made["guardrailArn"], **changed)  # an ARN works too
    assert bedrock.get_guardrail(guardrailIdentifier=gid)["blockedInputMessaging"] == "No."
    v1 = bedrock.get_guardrail(guardrailIdentifier=gid, guardrailVersion="1")
    assert v1["blockedInputMessaging"] == BASIC["blockedInputMessaging"]  # versions are immutable
    assert v1["description"] == "v1"
    assert bedrock.create_guardrail_version(guardrailIdentifier=gid)["version"] == "2"
    versions = bedrock.list_guardrails(guardrailIdentifier=gid)["guardrails"]
    assert [v["version"] for v in versions] == ["DRAFT", "1", "2"]
    bedrock.delete_guardrail(guardrailIdentifier=gid, guardrailVersion="1")
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.get_guardrail(guardrailIdentifier=gid, guardrailVersion="1")
    assert bedrock.create_guardrail_version(guardrailIdentifier=gid)["version"] == "3"  # never reused
    bedrock.delete_guardrail(guardrailIdentifier=gid)
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.get_guardrail(guardrailIdentifier=gid)


def test_list_pages_and_idempotent_create(gateway):
    gw, url = gateway
    keys = gw.issue_keys("lister")
    bedrock = client(gw, url, keys=keys)
    ids = [bedrock.create_guardrail(**{**BASIC, "name": f"g{i}"})["guardrailId"] for i in range(5)]
    again = bedrock.create_guardrail(**{**BASIC, "name": "tok"}, clientRequestToken="tok-1")
    repeat = bedrock.create_guardrail(**{**BASIC, "name": "tok"}, clientRequestToken="tok-1")
    assert repeat["guardrailId"] == again["guardrailId"] and repeat["createdAt"] == again["createdAt"]
    pages = bedrock.get_paginator("list_guardrails").paginate(PaginationConfig={"PageSize": 2})
    seen = [g["id"] for page in pages for g in page["guardrails"]]
    assert seen == [*ids, again["guardrailId"]]
    with pytest.raises(bedrock.exceptions.ValidationException):
        bedrock.list_guardrails(nextToken="garbage")


def test_tenants_are_isolated(gateway):
    gw, url = gateway
    mine = client(gw, url).create_guardrail(**{**BASIC, "name": "private"})["guardrailId"]
    other = client(gw, url, keys=gw.issue_keys("other-tenant"))
    with pytest.raises(other.exceptions.ResourceNotFoundException):
        other.get_guardrail(guardrailIdentifier=mine)
    with pytest.raises(other.exceptions.ResourceNotFoundException):
        other.update_guardrail(guardrailIdentifier=mine, **BASIC)
    with pytest.raises(other.exceptions.ResourceNotFoundException):
        other.delete_guardrail(guardrailIdentifier=mine)
    assert mine not in {g["id"] for g in other.list_guardrails()["guardrails"]}
    other.create_guardrail(**{**BASIC, "name": "private"})  # names are per tenant


def test_duplicate_name_is_a_conflict(gateway):
    gw, url = gateway
    bedrock = client(gw, url)
    bedrock.create_guardrail(**{**BASIC, "name": "dupe"})
    with pytest.raises(bedrock.exceptions.ConflictException):
        bedrock.create_guardrail(**{**BASIC, "name": "dupe"})


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {
                "topicPolicyConfig": {
                    "topicsConfig": [{"name": f"t{i}", "definition": "d", "type": "DENY"} for i in range(31)]
                }
            },
            "topicPolicyConfig.topicsConfig",
        ),
        (
            {"wordPolicyConfig": {"wordsConfig": [{"text": f"w{i}"} for i in range(10_001)]}},
            "wordPolicyConfig.wordsConfig",
        ),
        (
            {
                "sensitiveInformationPolicyConfig": {
                    "regexesConfig": [{"name": "r", "pattern": "(", "action": "BLOCK"}]
                }
            },
            "regexesConfig.1.member.pattern",
        ),
        (
            {
                "sensitiveInformationPolicyConfig": {
                    "regexesConfig": [{"name": "r", "pattern": "(a+)+$", "action": "BLOCK"}]
                }
            },
            "backtracks catastrophically",
        ),
        (
            {
                "sensitiveInformationPolicyConfig": {
                    "piiEntitiesConfig": [{"type": "FAVOURITE_COLOUR", "action": "BLOCK"}]
                }
            },
            "piiEntitiesConfig.1.member.type",
        ),
        ({"blockedInputMessaging": "x" * 501}, "blockedInputMessaging"),
        (
            {
                "contentPolicyConfig": {
                    "filtersConfig": [
                        {"type": "PROMPT_ATTACK", "inputStrength": "HIGH", "outputStrength": "HIGH"}
                    ]
                }
            },
            "outputStrength",
        ),
        (
            {"contextualGroundingPolicyConfig": {"filtersConfig": [{"type": "GROUNDING", "threshold": 1.5}]}},
            "threshold",
        ),
        (
            {"topicPolicyConfig": {"topicsConfig": [{"name": "a", "definition": "d", "type": "DENY"}] * 2}},
            "duplicate",
        ),
    ],
)
def test_invalid_configs_name_the_field(gateway, change, field):
    gw, url = gateway
    bedrock = client(gw, url)
    with pytest.raises(bedrock.exceptions.ValidationException) as err:
        bedrock.create_guardrail(**{**BASIC, "name": "bad", **change})
    assert field in err.value.response["Error"]["Message"]


def test_unknown_version_and_malformed_ids(gateway):
    gw, url = gateway
    bedrock = client(gw, url)
    gid = bedrock.create_guardrail(**{**BASIC, "name": "versions"})["guardrailId"]
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.get_guardrail(guardrailIdentifier=gid, guardrailVersion="7")
    with pytest.raises(ClientError) as err:
        bedrock.get_guardrail(guardrailIdentifier=gid, guardrailVersion="v7")
    assert err.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(bedrock.exceptions.ValidationException):
        bedrock.get_guardrail(guardrailIdentifier="Not_An_Id")


def test_concurrent_updates_and_versions_lose_nothing(gateway):
    gw, url = gateway
    bedrock = client(gw, url)
    gid = bedrock.create_guardrail(**{**BASIC, "name": "busy"})["guardrailId"]
    versions: list[str] = []
    errors: list[BaseException] = []

    def make_versions():
        mine = client(gw, url)
        for _ in range(6):
            versions.append(mine.create_guardrail_version(guardrailIdentifier=gid)["version"])

    def make_updates(n):
        mine = client(gw, url)
        for i in range(6):
            mine.update_guardrail(
                guardrailIdentifier=gid, **{**BASIC, "name": "busy", "blockedInputMessaging": f"u{n}-{i}"}
            )

    threads = [
        threading.Thread(target=t, args=a)
        for t, a in [(make_versions, ()), (make_versions, ()), (make_updates, (1,)), (make_updates, (2,))]
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert sorted(versions, key=int) == [str(i) for i in range(1, 13)]  # every number once
    listed = [
        g["version"] for g in bedrock.list_guardrails(guardrailIdentifier=gid, maxResults=100)["guardrails"]
    ]
    assert listed == ["DRAFT", *(str(i) for i in range(1, 13))]
    last = bedrock.get_guardrail(guardrailIdentifier=gid)["blockedInputMessaging"]
    assert last in {"u1-5", "u2-5"}


def test_state_survives_a_restart(tmp_path):
    gw = build_gateway(tmp_path)
    with serve_app(gw.app) as url:
        gid = client(gw, url).create_guardrail(**BASIC)["guardrailId"]
        client(gw, url).create_guardrail_version(guardrailIdentifier=gid)
    again = build_gateway(tmp_path)
    with serve_app(again.app) as url:
        bedrock = client(again, url, keys=gw.keys)
        assert bedrock.get_guardrail(guardrailIdentifier=gid, guardrailVersion="1")["name"] == "support-bot"


def test_every_pattern_in_botocores_models_compiles():
    """Java-style classes (\\p{L}, \\p{M}) in bedrock's models validate instead of raising."""
    import botocore.session

    from model_layer.wire.validate import _compiled

    session = botocore.session.get_session()
    for service in ("bedrock", "bedrock-runtime", "bedrock-agent", "bedrock-agent-runtime"):
        model = session.get_service_model(service)
        for name in model.shape_names:
            pattern = model.shape_for(name).metadata.get("pattern")
            if pattern:
                _compiled(pattern)
    assert _compiled(r"\p{L}[\p{L}\p{M}0-9_]*( [\p{L}\p{M}0-9_]+)*").fullmatch("Größe Zahl_2")
