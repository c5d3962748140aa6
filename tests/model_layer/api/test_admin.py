"""The admin API (``/strata/v1/admin/``) over HTTP, as an operator's script and an attacker use it.

httpx for the admin calls, boto3 and the openai SDK to show that what the admin API changes
applies to the very next request on the same replica. Every refusal is in the Bedrock error
shape (``message`` + ``x-amzn-ErrorType``), never a 500.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from botocore.exceptions import ClientError

from tests.model_layer.tenancy.tenancy_harness import (
    CHAT_MODEL,
    PRICED_MODEL,
    build,
    openai_client,
    runtime,
    user,
)

ADMIN_TOKEN = "admin-token-for-tests-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def gw(tmp_path):
    gateway = build(tmp_path / "gw", admin_token=ADMIN_TOKEN)
    yield gateway
    gateway.keystore.close()


@pytest.fixture
def admin(gw, live_server):
    """An httpx client on the admin API of a running gateway."""
    with live_server(gw.app) as url, httpx.Client(base_url=url + "/strata/v1/admin", headers=ADMIN) as client:
        client.gateway_url = url  # type: ignore[attr-defined]
        yield client


def error_of(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"].startswith("application/json"), response.text
    assert "message" in response.json(), response.text
    return response.status_code, response.headers["x-amzn-ErrorType"]


def code_of(call) -> str:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]["Code"]


# --- who may call it -----------------------------------------------------------------------------


def test_the_admin_api_is_off_without_a_token(tmp_path, live_server):
    gw = build(tmp_path / "gw")
    keys = gw.issue("acme")
    with live_server(gw.app) as url:
        for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": f"Bearer {keys.api_key}"}):
            response = httpx.get(url + "/strata/v1/admin/tenants", headers=headers)
            assert error_of(response) == (403, "AccessDeniedException")
            assert "STRATA_ADMIN_TOKEN" in response.json()["message"]
    gw.keystore.close()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
        {"Authorization": f"Bearer {ADMIN_TOKEN[:-1]}"},
        {"Authorization": f"Basic {ADMIN_TOKEN}"},
        {"Authorization": ADMIN_TOKEN},
        {"x-api-key": ADMIN_TOKEN},
    ],
)
def test_anything_but_the_admin_token_is_refused(gw, live_server, headers):
    with live_server(gw.app) as url:
        response = httpx.get(url + "/strata/v1/admin/tenants", headers=headers)
    assert error_of(response) == (403, "AccessDeniedException")
    assert "tenants" not in response.json()


def test_a_tenant_credential_is_not_an_admin_credential(gw, admin):
    keys = gw.issue("acme")
    url = admin.gateway_url + "/strata/v1/admin/tenants"
    for headers in ({"Authorization": f"Bearer {keys.api_key}"}, {"x-api-key": keys.api_key}):
        assert error_of(httpx.get(url, headers=headers)) == (403, "AccessDeniedException")


# --- tenants -------------------------------------------------------------------------------------


def test_put_creates_then_updates_only_what_is_given(admin):
    created = admin.put(
        "/tenants/newco",
        json={
            "requestsPerMinute": 5,
            "allowedModels": [PRICED_MODEL, CHAT_MODEL, CHAT_MODEL],
            "dailyBudgetUsd": 1.5,
            "modelLimits": [{"modelId": PRICED_MODEL, "requestsPerMinute": 2}],
        },
    )
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["tenantId"] == "newco" and body["requestsPerMinute"] == 5
    assert body["allowedModels"] == sorted([CHAT_MODEL, PRICED_MODEL])
    assert body["modelLimits"] == [{"modelId": PRICED_MODEL, "requestsPerMinute": 2, "tokensPerMinute": None}]

    updated = admin.put("/tenants/newco", json={"tokensPerMinute": 1000}).json()
    assert (updated["requestsPerMinute"], updated["tokensPerMinute"], updated["dailyBudgetUsd"]) == (
        5,
        1000,
        1.5,
    )
    assert updated["allowedModels"] == body["allowedModels"] and updated["modelLimits"] == body["modelLimits"]

    cleared = admin.put(
        "/tenants/newco",
        json={"requestsPerMinute": None, "allowedModels": None, "modelLimits": [{"modelId": PRICED_MODEL}]},
    ).json()
    assert cleared["requestsPerMinute"] is None and cleared["allowedModels"] is None
    assert cleared["modelLimits"] == [] and cleared["tokensPerMinute"] == 1000
    assert admin.get("/tenants/newco").json() == cleared
    assert [t["tenantId"] for t in admin.get("/tenants").json()["tenants"]] == ["newco"]


def test_null_model_limits_clears_them_as_null_clears_every_other_field(admin):
    admin.put("/tenants/acme", json={"modelLimits": [{"modelId": PRICED_MODEL, "requestsPerMinute": 2}]})
    cleared = admin.put("/tenants/acme", json={"modelLimits": None})
    assert cleared.status_code == 200 and cleared.json()["modelLimits"] == []


def test_an_unknown_tenant_is_not_found(admin):
    assert error_of(admin.get("/tenants/nobody")) == (404, "ResourceNotFoundException")


BAD_TENANT_BODIES: list[tuple[str, Any]] = [
    ("unknown field", {"requestsPerMinute": 1, "isAdmin": True}),
    ("snake-case name", {"requests_per_minute": 1, "rpm": 2}),
    ("zero rpm", {"requestsPerMinute": 0}),
    ("negative tpm", {"tokensPerMinute": -5}),
    ("huge rpm", {"requestsPerMinute": 10**30}),
    ("huge tpm", {"tokensPerMinute": 2**63}),
    ("huge model rpm", {"modelLimits": [{"modelId": CHAT_MODEL, "requestsPerMinute": 2**64}]}),
    ("float rpm", {"requestsPerMinute": 1.5}),
    ("boolean rpm", {"requestsPerMinute": True}),
    ("string rpm", {"requestsPerMinute": "many"}),
    ("negative budget", {"dailyBudgetUsd": -0.01}),
    ("huge budget", {"monthlyBudgetUsd": 1e309}),
    ("models not a list", {"allowedModels": CHAT_MODEL}),
    ("model not a string", {"allowedModels": [1]}),
    ("model limit without id", {"modelLimits": [{"requestsPerMinute": 1}]}),
    ("model limit empty id", {"modelLimits": [{"modelId": ""}]}),
    ("model limit zero", {"modelLimits": [{"modelId": CHAT_MODEL, "tokensPerMinute": 0}]}),
    ("model limit unknown field", {"modelLimits": [{"modelId": CHAT_MODEL, "burst": 1}]}),
    ("array body", [1, 2]),
    ("string body", "tenant"),
]


@pytest.mark.parametrize(("what", "body"), BAD_TENANT_BODIES, ids=[w for w, _ in BAD_TENANT_BODIES])
def test_bad_tenant_bodies_are_validation_errors(admin, what, body):
    response = admin.put("/tenants/acme", content=json.dumps(body))
    assert error_of(response) == (400, "ValidationException"), what
    assert admin.get("/tenants/acme").status_code == 404  # nothing was written


@pytest.mark.parametrize(
    "raw",
    [
        b'{"dailyBudgetUsd": NaN}',
        b'{"dailyBudgetUsd": Infinity}',
        b'{"dailyBudgetUsd": 1e999}',
        b'{"requestsPerMinute": 1',
        b"\xff\xfe",
        b'{"allowedModels": ["\\ud800"]}',
        b'{"a": 1, "a": 2}',
    ],
)
def test_malformed_json_is_a_validation_error(admin, raw):
    response = admin.put("/tenants/acme", content=raw)
    assert error_of(response) == (400, "ValidationException")


@pytest.mark.parametrize(
    "tenant_id", ["bad%20id", "-leading-dash", "x" * 65, "semi;colon", "%C3%A9t%C3%A9", ".."]
)
def test_an_invalid_tenant_id_is_a_validation_error(admin, tenant_id):
    for response in (
        admin.put(f"/tenants/{tenant_id}", json={"requestsPerMinute": 1}),
        admin.post(f"/tenants/{tenant_id}/keys"),
    ):
        assert response.status_code in (400, 404), response.text
        assert response.status_code != 500
        assert response.headers["x-amzn-ErrorType"] in ("ValidationException", "UnknownOperationException")
    assert admin.get("/tenants").json() == {"tenants": []}


# --- keys ----------------------------------------------------------------------------------------


def test_issue_list_revoke_and_the_revoked_key_stops_at_once(gw, admin):
    issued = admin.post("/tenants/acme/keys")
    assert issued.status_code == 201, issued.text
    keys = issued.json()
    assert keys["accessKeyId"].startswith("AKIA") and keys["apiKey"].startswith("sk-strata-")
    assert keys["expiresAt"] is None and len(keys["secretAccessKey"]) == 40

    class Issued:
        access_key_id, secret_access_key = keys["accessKeyId"], keys["secretAccessKey"]

    client = runtime(admin.gateway_url, Issued)
    assert client.converse(modelId=CHAT_MODEL, messages=user("works"))["output"]

    listed = admin.get("/keys").json()["keys"]
    assert [(k["accessKeyId"], k["status"]) for k in listed] == [(keys["accessKeyId"], "active")]
    assert keys["secretAccessKey"] not in json.dumps(listed) and keys["apiKey"] not in json.dumps(listed)
    assert admin.get("/keys", params={"tenantId": "other"}).json() == {"keys": []}

    revoked = admin.post(f"/keys/{keys['accessKeyId']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert (
        code_of(lambda: client.converse(modelId=CHAT_MODEL, messages=user("x")))
        == "UnrecognizedClientException"
    )
    with pytest.raises(openai.AuthenticationError):
        openai_client(admin.gateway_url, keys["apiKey"]).models.list()
    assert admin.post(f"/keys/{keys['accessKeyId']}/revoke").status_code == 200  # idempotent


def test_keys_can_be_issued_with_an_expiry(admin):
    keys = admin.post("/tenants/acme/keys", json={"expiresInSeconds": 3600}).json()
    assert keys["expiresAt"] is not None
    for body in (
        {"expiresInSeconds": 5},
        {"expiresInSeconds": -1},
        {"expiresInSeconds": "soon"},
        {"ttl": 60},
    ):
        assert error_of(admin.post("/tenants/acme/keys", json=body)) == (400, "ValidationException")


def test_rotate_with_and_without_grace(gw, admin):
    first = admin.post("/tenants/acme/keys").json()
    rotated = admin.post(f"/keys/{first['accessKeyId']}/rotate")
    assert rotated.status_code == 201, rotated.text
    second = rotated.json()
    assert second["tenantId"] == "acme" and second["accessKeyId"] != first["accessKeyId"]
    # default grace: the old key keeps working
    with pytest.raises(openai.NotFoundError):  # authenticated, then an unknown model
        openai_client(admin.gateway_url, first["apiKey"]).models.retrieve("no.such-model-v1:0")

    third = admin.post(f"/keys/{second['accessKeyId']}/rotate", json={"graceSeconds": 0}).json()
    with pytest.raises(openai.AuthenticationError) as info:
        openai_client(admin.gateway_url, second["apiKey"]).models.list()
    assert "expired" in info.value.body["message"]
    assert openai_client(admin.gateway_url, third["apiKey"]).models.list()
    statuses = {k["accessKeyId"]: (k["status"], k["replacedBy"]) for k in admin.get("/keys").json()["keys"]}
    assert statuses[second["accessKeyId"]] == ("expired", third["accessKeyId"])
    assert statuses[third["accessKeyId"]] == ("active", None)


def test_unknown_or_inactive_keys_are_not_found_or_refused_never_a_500(admin):
    unknown = "AKIAUNKNOWNUNKNOWN00"
    assert error_of(admin.post(f"/keys/{unknown}/revoke")) == (404, "ResourceNotFoundException")
    assert error_of(admin.post(f"/keys/{unknown}/rotate")) == (404, "ResourceNotFoundException")
    keys = admin.post("/tenants/acme/keys").json()
    admin.post(f"/keys/{keys['accessKeyId']}/revoke")
    assert error_of(admin.post(f"/keys/{keys['accessKeyId']}/rotate")) == (400, "ValidationException")
    for body in ({"graceSeconds": -1}, {"graceSeconds": 10**12}, {"grace": 1}):
        assert error_of(admin.post(f"/keys/{unknown}/rotate", json=body)) == (400, "ValidationException")


def test_a_rotated_key_cannot_be_rotated_again(admin):
    """A second rotation would issue a second live successor, and the first would never expire
    on its own: the operator should rotate the successor instead."""
    first = admin.post("/tenants/acme/keys").json()
    admin.post(f"/keys/{first['accessKeyId']}/rotate")
    again = admin.post(f"/keys/{first['accessKeyId']}/rotate")
    assert error_of(again) == (400, "ValidationException")
    assert "already" in again.json()["message"]
    assert len(admin.get("/keys").json()["keys"]) == 2


# --- usage ----------------------------------------------------------------------------------------


def test_admin_usage_covers_every_tenant_and_filters(gw, admin):
    for tenant in ("acme", "beta"):
        runtime(admin.gateway_url, gw.issue(tenant)).converse(modelId=CHAT_MODEL, messages=user(tenant))
    everyone = admin.get("/usage").json()
    assert sorted(m["tenantId"] for m in everyone["models"]) == ["acme", "beta"]
    only_beta = admin.get("/usage", params={"tenantId": "beta"}).json()
    assert [m["tenantId"] for m in only_beta["models"]] == ["beta"]
    assert admin.get("/usage", params={"since": "2999-01-01"}).json()["models"] == []
    assert error_of(admin.get("/usage", params={"until": "soon"})) == (400, "ValidationException")


# --- changes apply to the next request ----------------------------------------------------------


def test_a_policy_change_applies_to_the_very_next_request(gw, admin):
    keys = gw.issue("acme")
    client = runtime(admin.gateway_url, keys)
    client.converse(modelId=PRICED_MODEL, messages=user("allowed now"))  # cached with its policy

    admin.put("/tenants/acme", json={"allowedModels": [CHAT_MODEL]})
    assert (
        code_of(lambda: client.converse(modelId=PRICED_MODEL, messages=user("x"))) == "AccessDeniedException"
    )

    admin.put("/tenants/acme", json={"allowedModels": None, "requestsPerMinute": 1})
    client.converse(modelId=PRICED_MODEL, messages=user("allowed again"))
    assert code_of(lambda: client.converse(modelId=PRICED_MODEL, messages=user("x"))) == "ThrottlingException"

    admin.put("/tenants/acme", json={"requestsPerMinute": None, "dailyBudgetUsd": 0})
    assert code_of(lambda: client.converse(modelId=CHAT_MODEL, messages=user("x"))) == (
        "ServiceQuotaExceededException"
    )
