"""Tenant policies through real clients: allowed models, budgets, key expiry and rotation, own usage.

boto3 (bedrock-runtime, bedrock), the openai SDK and httpx against the gateway on a loopback
port; policies are set through the key store the gateway runs on, as the CLI and the admin API do.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import openai
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.model_layer.tenancy.tenancy_harness import (
    CHAT_MODEL,
    EMBED_MODEL,
    PRICED_MODEL,
    build,
    openai_client,
    runtime,
    usage_rows,
    user,
    wait_for,
)


@pytest.fixture
def gw(tmp_path):
    gateway = build(tmp_path / "gw")
    yield gateway
    gateway.keystore.close()


def error_code(call) -> tuple[str, int]:
    with pytest.raises(ClientError) as info:
        call()
    response = info.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def signed_get(url: str, path: str, keys: Any) -> dict[str, str]:
    """Headers of a GET signed by botocore's SigV4 signer, as any AWS SDK would sign it."""
    request = AWSRequest(method="GET", url=url + path)
    SigV4Auth(Credentials(keys.access_key_id, keys.secret_access_key), "bedrock", "us-east-1").add_auth(
        request
    )
    return dict(request.headers.items())


# --- allowed models -----------------------------------------------------------------------------


def test_a_model_outside_the_allowed_list_is_access_denied_on_every_runtime_route(gw, live_server):
    keys = gw.issue("acme")
    gw.keystore.set_tenant("acme", allowed_models=[CHAT_MODEL])
    with live_server(gw.app) as url:
        client = runtime(url, keys)
        calls = {
            "Converse": lambda: client.converse(modelId=PRICED_MODEL, messages=user("hi")),
            "ConverseStream": lambda: client.converse_stream(modelId=PRICED_MODEL, messages=user("hi")),
            "InvokeModelWithResponseStream": lambda: client.invoke_model_with_response_stream(
                modelId=PRICED_MODEL, body=json.dumps({"messages": user("hi")})
            ),
            "InvokeModel": lambda: client.invoke_model(
                modelId=PRICED_MODEL, body=json.dumps({"messages": user("hi")})
            ),
            "InvokeModel (embedding)": lambda: client.invoke_model(
                modelId=EMBED_MODEL, body=json.dumps({"inputText": "hi"})
            ),
            "CountTokens": lambda: client.count_tokens(
                modelId=PRICED_MODEL, input={"converse": {"messages": user("hi")}}
            ),
        }
        for name, call in calls.items():
            assert error_code(call) == ("AccessDeniedException", 403), name
        assert client.converse(modelId=CHAT_MODEL, messages=user("allowed"))["output"]
        # By its ARN or a geo inference-profile id it is still the same model.
        arn = f"arn:aws:bedrock:us-east-1::foundation-model/{PRICED_MODEL}"
        assert (
            error_code(lambda: client.converse(modelId=arn, messages=user("hi")))[0]
            == "AccessDeniedException"
        )
        assert error_code(lambda: client.converse(modelId=f"us.{PRICED_MODEL}", messages=user("hi")))[0] == (
            "AccessDeniedException"
        )
    rows = usage_rows(gw, "acme")
    assert [r.model_id for r in rows] == [CHAT_MODEL]  # refused calls are not metered


def test_a_model_outside_the_allowed_list_is_permission_denied_for_openai_clients(gw, live_server):
    keys = gw.issue("acme")
    gw.keystore.set_tenant("acme", allowed_models=[CHAT_MODEL])
    with live_server(gw.app) as url:
        client = openai_client(url, keys.api_key)
        with pytest.raises(openai.PermissionDeniedError) as chat:
            client.chat.completions.create(model=PRICED_MODEL, messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(openai.PermissionDeniedError):
            client.chat.completions.create(
                model=PRICED_MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
            )
        with pytest.raises(openai.PermissionDeniedError) as embed:
            client.embeddings.create(model=EMBED_MODEL, input="hi")
        client.chat.completions.create(model=CHAT_MODEL, messages=[{"role": "user", "content": "ok"}])
    for error in (chat.value, embed.value):
        assert error.status_code == 403
        assert error.body["code"] == "AccessDeniedException" and "access" in error.body["message"]
    assert [r.model_id for r in usage_rows(gw, "acme")] == [CHAT_MODEL]


def test_listings_show_a_tenant_only_the_models_it_may_use(gw, live_server):
    """ListFoundationModels and GET /v1/models answer per tenant (they listed every model)."""
    acme, beta = gw.issue("acme"), gw.issue("beta")
    gw.keystore.set_tenant("acme", allowed_models=[CHAT_MODEL])
    with live_server(gw.app) as url:
        listed = runtime(url, acme, "bedrock").list_foundation_models()["modelSummaries"]
        everything = runtime(url, beta, "bedrock").list_foundation_models()["modelSummaries"]
        openai_listed = [m.id for m in openai_client(url, acme.api_key).models.list()]
        bearer = {"Authorization": f"Bearer {acme.api_key}"}
        retrieved = httpx.get(f"{url}/v1/models/{PRICED_MODEL}", headers=bearer)
        detail = httpx.get(f"{url}/foundation-models/{PRICED_MODEL}", headers=bearer)
    assert {m["modelId"] for m in everything} == {CHAT_MODEL, PRICED_MODEL, EMBED_MODEL}
    assert [m["modelId"] for m in listed] == [CHAT_MODEL]
    assert openai_listed == [CHAT_MODEL]
    assert (retrieved.status_code, detail.status_code) == (403, 403)


def test_an_empty_allowed_list_allows_nothing(gw, live_server):
    keys = gw.issue("acme")
    gw.keystore.set_tenant("acme", allowed_models=[])
    with live_server(gw.app) as url:
        code = error_code(lambda: runtime(url, keys).converse(modelId=CHAT_MODEL, messages=user("hi")))
    assert code == ("AccessDeniedException", 403)


# --- budgets --------------------------------------------------------------------------------------

# "one two three" costs (3 x $0.003 + 5 x $0.015) / 1000 = $0.000084 on the priced model
CALL_USD = (3 * 0.003 + 5 * 0.015) / 1000


def test_the_call_that_crosses_the_daily_budget_is_served_and_the_next_refused(gw, live_server):
    acme, beta = gw.issue("acme"), gw.issue("beta")
    gw.keystore.set_tenant("acme", daily_budget_usd=0.0001)
    with live_server(gw.app) as url:
        client = runtime(url, acme)
        client.converse(modelId=PRICED_MODEL, messages=user("one two three"))
        client.converse(modelId=PRICED_MODEL, messages=user("one two three"))  # crosses $0.0001
        with pytest.raises(client.exceptions.ServiceQuotaExceededException) as info:
            client.converse(modelId=PRICED_MODEL, messages=user("one two three"))
        with pytest.raises(client.exceptions.ServiceQuotaExceededException):
            client.converse(modelId=CHAT_MODEL, messages=user("free, but the budget is spent"))
        runtime(url, beta).converse(modelId=PRICED_MODEL, messages=user("one two three"))  # unaffected
        report = httpx.get(url + "/strata/v1/usage", headers={"x-api-key": acme.api_key}).json()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "daily budget" in info.value.response["Error"]["Message"]
    assert report["spend"]["dayUsd"] == pytest.approx(2 * CALL_USD)
    assert report["spend"]["monthUsd"] == pytest.approx(2 * CALL_USD)
    assert report["budgets"] == {"dailyUsd": 0.0001, "monthlyUsd": None}
    assert len(usage_rows(gw, "acme", 2)) == 2  # refused calls are not metered


def test_a_spent_monthly_budget_refuses_openai_clients_with_insufficient_quota(gw, live_server):
    keys = gw.issue("acme")
    gw.keystore.set_tenant("acme", monthly_budget_usd=0.00005)
    with live_server(gw.app) as url:
        client = openai_client(url, keys.api_key)
        messages = [{"role": "user", "content": "one two three"}]
        client.chat.completions.create(model=PRICED_MODEL, messages=messages)
        with pytest.raises(openai.RateLimitError) as info:
            client.chat.completions.create(model=PRICED_MODEL, messages=messages)
    assert info.value.status_code == 429
    assert info.value.body["type"] == "insufficient_quota"
    assert "monthly budget" in info.value.body["message"]


def test_the_openai_budget_error_carries_openais_code(gw, live_server):
    """OpenAI sends ``code: insufficient_quota`` (and type) for a spent quota; clients test the code."""
    keys = gw.issue("acme")
    gw.keystore.set_tenant("acme", daily_budget_usd=0)
    with live_server(gw.app) as url, pytest.raises(openai.RateLimitError) as info:
        openai_client(url, keys.api_key).chat.completions.create(
            model=CHAT_MODEL, messages=[{"role": "user", "content": "hi"}]
        )
    assert info.value.body["code"] == "insufficient_quota"


# --- key expiry and rotation ------------------------------------------------------------------------


def test_an_expired_key_is_refused_by_sigv4_and_api_key(gw, live_server):
    keys = gw.keystore.create_keys("acme", expires_in=timedelta(seconds=1))
    assert keys.expires_at is not None
    with live_server(gw.app) as url:
        client = runtime(url, keys)

        def expired() -> tuple[str, int] | None:
            try:
                client.converse(modelId=CHAT_MODEL, messages=user("still there?"))
            except ClientError as exc:
                return exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]
            return None

        assert wait_for(expired, what="the key to expire") == ("ExpiredTokenException", 403)
        with pytest.raises(openai.AuthenticationError) as info:
            openai_client(url, keys.api_key).chat.completions.create(
                model=CHAT_MODEL, messages=[{"role": "user", "content": "hi"}]
            )
    assert info.value.status_code == 401 and info.value.body["code"] == "invalid_api_key"
    assert "expired" in info.value.body["message"]
    (listed,) = gw.keystore.list_keys("acme")
    assert listed.status == "expired"


def test_rotation_keeps_both_keys_during_the_grace_then_only_the_new_one(gw, live_server):
    old = gw.issue("acme")
    with live_server(gw.app) as url:
        runtime(url, old).converse(modelId=CHAT_MODEL, messages=user("before"))  # cached
        new = gw.keystore.rotate(old.access_key_id, grace=timedelta(seconds=2))
        assert new.tenant_id == "acme" and new.access_key_id != old.access_key_id
        for keys in (old, new):
            runtime(url, keys).converse(modelId=CHAT_MODEL, messages=user("during the grace"))
            openai_client(url, keys.api_key).chat.completions.create(
                model=CHAT_MODEL, messages=[{"role": "user", "content": "grace"}]
            )

        def old_refused() -> str | None:
            try:
                runtime(url, old).converse(modelId=CHAT_MODEL, messages=user("after"))
            except ClientError as exc:
                return exc.response["Error"]["Code"]
            return None

        assert wait_for(old_refused, what="the grace to end") == "ExpiredTokenException"
        with pytest.raises(openai.AuthenticationError):
            openai_client(url, old.api_key).models.list()
        runtime(url, new).converse(modelId=CHAT_MODEL, messages=user("the new key works"))
    statuses = {k.access_key_id: (k.status, k.replaced_by) for k in gw.keystore.list_keys("acme")}
    assert statuses == {
        old.access_key_id: ("expired", new.access_key_id),
        new.access_key_id: ("active", None),
    }


def test_a_revoked_key_stops_at_once_even_while_cached(gw, live_server):
    keys = gw.issue("acme")
    with live_server(gw.app) as url:
        client = runtime(url, keys)
        client.converse(modelId=CHAT_MODEL, messages=user("cached now"))
        gw.keystore.revoke(keys.access_key_id)
        assert error_code(lambda: client.converse(modelId=CHAT_MODEL, messages=user("x")))[0] == (
            "UnrecognizedClientException"
        )


# --- a tenant's own usage -----------------------------------------------------------------------


@pytest.fixture
def two_tenants(gw, live_server):
    """acme and beta each made calls; yields (url, acme keys, beta keys)."""
    acme, beta = gw.issue("acme"), gw.issue("beta")
    with live_server(gw.app) as url:
        for _ in range(2):
            runtime(url, acme).converse(modelId=PRICED_MODEL, messages=user("one two three"))
        runtime(url, acme).converse(modelId=CHAT_MODEL, messages=user("free"))
        runtime(url, beta).converse(modelId=PRICED_MODEL, messages=user("beta's call"))
        yield url, acme, beta


def test_a_tenant_sees_only_its_own_usage_with_sigv4_or_an_api_key(two_tenants):
    url, acme, _ = two_tenants
    by_sigv4 = httpx.get(url + "/strata/v1/usage", headers=signed_get(url, "/strata/v1/usage", acme))
    by_bearer = httpx.get(url + "/strata/v1/usage", headers={"Authorization": f"Bearer {acme.api_key}"})
    by_header = httpx.get(url + "/strata/v1/usage?tenantId=beta", headers={"x-api-key": acme.api_key})
    for response in (by_sigv4, by_bearer, by_header):
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["tenantId"] == "acme"
        models = {m["modelId"]: m for m in report["models"]}
        assert set(models) == {CHAT_MODEL, PRICED_MODEL}
        assert {m["tenantId"] for m in report["models"]} == {"acme"}
        assert models[PRICED_MODEL]["requests"] == 2 and models[PRICED_MODEL]["inputTokens"] == 6
        assert report["spend"]["dayUsd"] == pytest.approx(2 * CALL_USD)


def test_usage_since_and_until_filter(two_tenants):
    url, acme, _ = two_tenants
    headers = {"x-api-key": acme.api_key}

    def models(query: str) -> list[str]:
        response = httpx.get(url + "/strata/v1/usage", params=query, headers=headers)
        assert response.status_code == 200, response.text
        return sorted(m["modelId"] for m in response.json()["models"])

    assert models("since=2000-01-01") == sorted([CHAT_MODEL, PRICED_MODEL])
    assert models("since=2999-01-01T00:00:00Z") == []
    assert models("until=2000-01-01T00:00:00%2B00:00") == []
    assert len(models("since=2000-01-01&until=2999-01-01")) == 2
    report = httpx.get(url + "/strata/v1/usage", params="since=2000-01-01", headers=headers).json()
    assert report["since"] == "2000-01-01T00:00:00+00:00" and report["until"] is None


@pytest.mark.parametrize("query", ["since=yesterday", "until=2024-13-01", "since=", "since=%00"])
def test_a_malformed_time_is_a_validation_error(two_tenants, query):
    url, acme, _ = two_tenants
    response = httpx.get(url + "/strata/v1/usage?" + query, headers={"x-api-key": acme.api_key})
    assert response.status_code == 400, response.text
    assert response.headers["x-amzn-ErrorType"] == "ValidationException"
    assert "ISO-8601" in response.json()["message"]


def test_usage_needs_a_tenant_credential(two_tenants):
    url, _, _ = two_tenants
    anonymous = httpx.get(url + "/strata/v1/usage")
    wrong = httpx.get(url + "/strata/v1/usage", headers={"x-api-key": "sk-strata-not-a-key"})
    assert anonymous.status_code == 403 and anonymous.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert wrong.status_code == 403 and wrong.headers["x-amzn-ErrorType"] == "UnrecognizedClientException"
    assert "models" not in anonymous.json() and "models" not in wrong.json()
