"""bedrock-agent's agent operations, driven by boto3 (SigV4) against a live gateway.

Agents, action groups (function schemas; OpenAPI schemas inline as JSON or YAML, and from S3 on a
moto server), PrepareAgent's status transitions, versions and aliases, tenant isolation, and the
error codes and messages bad definitions get.
"""

from __future__ import annotations

import json
import urllib.request

import pytest
import yaml

from tests.model_layer.agents.functions import arn
from tests.model_layer.agents.harness import (
    INSTRUCTION,
    ORDERS_OPENAPI,
    PLANNER,
    api_group,
    function_group,
    make_agent,
)


def test_agent_lifecycle(gw):
    created = gw.agent.create_agent(agentName="travel", foundationModel=PLANNER, instruction=INSTRUCTION)
    agent = created["agent"]
    assert agent["agentStatus"] == "NOT_PREPARED" and agent["agentVersion"] == "DRAFT"
    assert agent["agentArn"] == f"arn:aws:bedrock:us-east-1:000000000000:agent/{agent['agentId']}"
    assert agent["idleSessionTTLInSeconds"] == 600 and agent["agentResourceRoleArn"].startswith(
        "arn:aws:iam::"
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    agent_id = agent["agentId"]

    got = gw.agent.get_agent(agentId=agent_id)["agent"]
    assert got["instruction"] == INSTRUCTION and got["foundationModel"] == PLANNER

    prepared = gw.agent.prepare_agent(agentId=agent_id)
    assert prepared["agentStatus"] == "PREPARED" and prepared["agentVersion"] == "DRAFT"
    assert gw.agent.get_agent(agentId=agent_id)["agent"]["agentStatus"] == "PREPARED"

    updated = gw.agent.update_agent(
        agentId=agent_id,
        agentName="travel",
        foundationModel=PLANNER,
        agentResourceRoleArn="arn:aws:iam::123456789012:role/agent",
        instruction=INSTRUCTION + " Be brief.",
        idleSessionTTLInSeconds=120,
    )["agent"]
    assert updated["agentStatus"] == "NOT_PREPARED"  # a changed DRAFT needs preparing again
    assert updated["idleSessionTTLInSeconds"] == 120 and "preparedAt" in updated

    deleted = gw.agent.delete_agent(agentId=agent_id)
    assert deleted["agentStatus"] == "DELETING"
    with pytest.raises(gw.agent.exceptions.ResourceNotFoundException, match=agent_id):
        gw.agent.get_agent(agentId=agent_id)


def test_list_agents_pages(gw):
    ids = [make_agent(gw, name=f"agent-{i}", prepare=False) for i in range(3)]
    first = gw.agent.list_agents(maxResults=2)
    assert [a["agentId"] for a in first["agentSummaries"]] == ids[:2]
    rest = gw.agent.list_agents(maxResults=2, nextToken=first["nextToken"])
    assert [a["agentId"] for a in rest["agentSummaries"]] == ids[2:] and "nextToken" not in rest
    paginator = gw.agent.get_paginator("list_agents")
    assert [
        a["agentId"]
        for page in paginator.paginate(PaginationConfig={"PageSize": 1})
        for a in page["agentSummaries"]
    ] == ids
    with pytest.raises(gw.agent.exceptions.ValidationException, match="nextToken"):
        gw.agent.list_agents(nextToken="not-a-token")


def test_names_are_unique_and_client_tokens_idempotent(gw):
    token = "a" * 40
    first = gw.agent.create_agent(agentName="dup", foundationModel=PLANNER, clientToken=token)["agent"]
    again = gw.agent.create_agent(agentName="dup", foundationModel=PLANNER, clientToken=token)["agent"]
    assert again["agentId"] == first["agentId"]  # a retried create answers the agent it made
    with pytest.raises(gw.agent.exceptions.ConflictException, match="agentName dup"):
        gw.agent.create_agent(agentName="dup", foundationModel=PLANNER)


def test_function_and_openapi_action_groups(gw):
    agent_id = make_agent(gw)
    assert gw.agent.get_agent(agentId=agent_id)["agent"]["agentStatus"] == "PREPARED"
    fn = gw.agent.create_agent_action_group(agentId=agent_id, agentVersion="DRAFT", **function_group())
    group = fn["agentActionGroup"]
    assert group["actionGroupState"] == "ENABLED" and group["agentVersion"] == "DRAFT"
    assert group["functionSchema"]["functions"][0]["parameters"]["city"]["type"] == "string"
    # a change to the DRAFT needs a new PrepareAgent
    assert gw.agent.get_agent(agentId=agent_id)["agent"]["agentStatus"] == "NOT_PREPARED"

    yaml_group = {**api_group("orders-yaml"), "apiSchema": {"payload": yaml.safe_dump(ORDERS_OPENAPI)}}
    api = gw.agent.create_agent_action_group(agentId=agent_id, agentVersion="DRAFT", **yaml_group)
    api_id = api["agentActionGroup"]["actionGroupId"]
    got = gw.agent.get_agent_action_group(agentId=agent_id, agentVersion="DRAFT", actionGroupId=api_id)
    assert got["agentActionGroup"]["apiSchema"] == yaml_group["apiSchema"]  # stored as given
    assert "_openapi" not in got["agentActionGroup"]

    user_input = gw.agent.create_agent_action_group(
        agentId=agent_id,
        agentVersion="DRAFT",
        actionGroupName="ask",
        parentActionGroupSignature="AMAZON.UserInput",
    )["agentActionGroup"]
    assert user_input["parentActionSignature"] == "AMAZON.UserInput"

    listed = gw.agent.list_agent_action_groups(agentId=agent_id, agentVersion="DRAFT")["actionGroupSummaries"]
    assert [g["actionGroupName"] for g in listed] == ["weather", "orders-yaml", "ask"]

    changed = gw.agent.update_agent_action_group(
        agentId=agent_id,
        agentVersion="DRAFT",
        actionGroupId=api_id,
        actionGroupName="orders-yaml",
        actionGroupState="DISABLED",
        actionGroupExecutor={"customControl": "RETURN_CONTROL"},
        apiSchema={"payload": json.dumps(ORDERS_OPENAPI)},
    )["agentActionGroup"]
    assert changed["actionGroupState"] == "DISABLED" and changed["actionGroupExecutor"] == {
        "customControl": "RETURN_CONTROL"
    }

    deleted = gw.agent.delete_agent_action_group(agentId=agent_id, agentVersion="DRAFT", actionGroupId=api_id)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(gw.agent.exceptions.ResourceNotFoundException):
        gw.agent.get_agent_action_group(agentId=agent_id, agentVersion="DRAFT", actionGroupId=api_id)
    with pytest.raises(gw.agent.exceptions.ConflictException, match="actionGroupName weather"):
        gw.agent.create_agent_action_group(agentId=agent_id, agentVersion="DRAFT", **function_group())


@pytest.fixture
def s3_server(monkeypatch):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    try:
        yield url
    finally:
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST")).close()
        server.stop()


def test_openapi_schema_from_s3(gw, s3_server):
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    s3.create_bucket(Bucket="agent-schemas")
    s3.put_object(
        Bucket="agent-schemas", Key="orders/openapi.yaml", Body=yaml.safe_dump(ORDERS_OPENAPI).encode()
    )
    agent_id = make_agent(gw, prepare=False)
    location = {"s3BucketName": "agent-schemas", "s3ObjectKey": "orders/openapi.yaml"}
    group = {**api_group(), "apiSchema": {"s3": location}}
    created = gw.agent.create_agent_action_group(agentId=agent_id, agentVersion="DRAFT", **group)
    assert created["agentActionGroup"]["apiSchema"] == {"s3": location}
    missing = {**api_group("other"), "apiSchema": {"s3": {**location, "s3ObjectKey": "nope.yaml"}}}
    with pytest.raises(
        gw.agent.exceptions.ValidationException,
        match=r"apiSchema\.s3: cannot read s3://agent-schemas/nope\.yaml \(NoSuchKey\)",
    ):
        gw.agent.create_agent_action_group(agentId=agent_id, agentVersion="DRAFT", **missing)


def _fn(name: str, **params: dict) -> dict:
    return {"name": name, "description": "d", "parameters": params}


BAD_GROUPS = [
    (
        "duplicate function names",
        {"functionSchema": {"functions": [_fn("book"), _fn("book")]}},
        r"functionSchema\.functions\.2\.member\.name: duplicate function name 'book'",
    ),
    (
        "unsupported parameter type",
        {"functionSchema": {"functions": [_fn("book", when={"type": "object"})]}},
        r"functionSchema\.functions\.1\.member\.parameters\.when\.type.*enum value set",
    ),
    (
        "no schema",
        {},
        "Exactly one of apiSchema and functionSchema",
    ),
    (
        "OpenAPI 2",
        {"apiSchema": {"payload": json.dumps({**ORDERS_OPENAPI, "openapi": "2.0"})}},
        r"apiSchema\.payload: openapi must be an OpenAPI 3\.x version",
    ),
    (
        "operation without description",
        {
            "apiSchema": {
                "payload": json.dumps({"openapi": "3.0.0", "info": {}, "paths": {"/x": {"get": {}}}})
            }
        },
        r"apiSchema\.payload: paths\./x\.get\.description is required",
    ),
    (
        "object query parameter",
        {
            "apiSchema": {
                "payload": json.dumps(
                    {
                        "openapi": "3.0.0",
                        "paths": {
                            "/x": {
                                "get": {
                                    "description": "x",
                                    "parameters": [
                                        {"name": "f", "in": "query", "schema": {"type": "object"}}
                                    ],
                                }
                            }
                        },
                    }
                )
            }
        },
        r"apiSchema\.payload: paths\./x\.get\.parameters\[0\]\.schema\.type 'object' is not supported",
    ),
    (
        "not JSON or YAML",
        {"apiSchema": {"payload": "openapi: [3.0\n  paths: {"}},
        r"apiSchema\.payload:\s+is neither valid JSON nor valid YAML",
    ),
    (
        "dangling $ref",
        {
            "apiSchema": {
                "payload": json.dumps(
                    {
                        "openapi": "3.0.0",
                        "paths": {
                            "/x": {
                                "get": {
                                    "description": "x",
                                    "parameters": [{"$ref": "#/components/parameters/q"}],
                                }
                            }
                        },
                    }
                )
            }
        },
        r"\$ref '#/components/parameters/q' does not resolve",
    ),
]


@pytest.mark.parametrize(("case", "fields", "message"), BAD_GROUPS, ids=[c[0] for c in BAD_GROUPS])
def test_bad_action_group_definitions(gw, case, fields, message):
    agent_id = make_agent(gw, prepare=False)
    group = {"actionGroupName": "g", "actionGroupExecutor": {"lambda": arn("weather")}, **fields}
    with pytest.raises(gw.agent.exceptions.ValidationException, match=message):
        gw.agent.create_agent_action_group(agentId=agent_id, agentVersion="DRAFT", **group)
    assert (
        gw.agent.list_agent_action_groups(agentId=agent_id, agentVersion="DRAFT")["actionGroupSummaries"]
        == []
    )


def test_executors_must_be_runnable(gw):
    agent_id = make_agent(gw, prepare=False)
    unregistered = function_group(executor={"lambda": arn("not-registered")})
    with pytest.raises(
        gw.agent.exceptions.ValidationException, match="no function not-registered is registered"
    ):
        gw.agent.create_agent_action_group(agentId=agent_id, agentVersion="DRAFT", **unregistered)
    schema = {**ORDERS_OPENAPI, "servers": [{"url": "http://169.254.169.254/latest"}]}
    http = api_group(executor=False, schema=schema)
    with pytest.raises(gw.agent.exceptions.ValidationException, match=r"servers\[0\]\.url .* not an allowed"):
        gw.agent.create_agent_action_group(agentId=agent_id, agentVersion="DRAFT", **http)
    with pytest.raises(gw.agent.exceptions.ValidationException, match="actionGroupExecutor is required"):
        gw.agent.create_agent_action_group(
            agentId=agent_id, agentVersion="DRAFT", **api_group(executor=False)
        )
    user_input = {"actionGroupName": "ask", "parentActionGroupSignature": "AMAZON.UserInput"}
    with pytest.raises(gw.agent.exceptions.ValidationException, match="actionGroupExecutor must not be set"):
        gw.agent.create_agent_action_group(
            agentId=agent_id,
            agentVersion="DRAFT",
            actionGroupExecutor={"lambda": arn("weather")},
            **user_input,
        )


def test_prepare_checks_the_draft(gw):
    no_instruction = gw.agent.create_agent(agentName="bare", foundationModel=PLANNER)["agent"]["agentId"]
    with pytest.raises(gw.agent.exceptions.ValidationException, match="instruction"):
        gw.agent.prepare_agent(agentId=no_instruction)
    unknown = gw.agent.create_agent(
        agentName="ghost", foundationModel="acme.unknown-v1:0", instruction=INSTRUCTION
    )
    with pytest.raises(gw.agent.exceptions.ValidationException, match=r"foundationModel: acme\.unknown-v1:0"):
        gw.agent.prepare_agent(agentId=unknown["agent"]["agentId"])
    assert gw.agent.get_agent(agentId=no_instruction)["agent"]["agentStatus"] == "NOT_PREPARED"


def test_versions_and_aliases(gw):
    agent_id = make_agent(gw, function_group(), prepare=False)
    with pytest.raises(gw.agent.exceptions.ConflictException, match="NOT_PREPARED"):
        gw.agent.create_agent_alias(agentId=agent_id, agentAliasName="live")
    gw.agent.prepare_agent(agentId=agent_id)
    alias = gw.agent.create_agent_alias(agentId=agent_id, agentAliasName="live", description="production")[
        "agentAlias"
    ]
    assert (
        alias["routingConfiguration"] == [{"agentVersion": "1"}] and alias["agentAliasStatus"] == "PREPARED"
    )
    assert alias["agentAliasArn"].endswith(f"agent-alias/{agent_id}/{alias['agentAliasId']}")

    # the version is a snapshot: later DRAFT changes do not reach it
    group_id = gw.agent.list_agent_action_groups(agentId=agent_id, agentVersion="DRAFT")[
        "actionGroupSummaries"
    ][0]["actionGroupId"]
    gw.agent.delete_agent_action_group(agentId=agent_id, agentVersion="DRAFT", actionGroupId=group_id)
    v1_groups = gw.agent.list_agent_action_groups(agentId=agent_id, agentVersion="1")["actionGroupSummaries"]
    assert [g["actionGroupName"] for g in v1_groups] == ["weather"]
    version = gw.agent.get_agent_version(agentId=agent_id, agentVersion="1")["agentVersion"]
    assert version["version"] == "1" and version["instruction"] == INSTRUCTION

    versions = gw.agent.list_agent_versions(agentId=agent_id)["agentVersionSummaries"]
    assert [v["agentVersion"] for v in versions] == ["DRAFT", "1"]

    gw.agent.prepare_agent(agentId=agent_id)
    second = gw.agent.create_agent_alias(agentId=agent_id, agentAliasName="canary")["agentAlias"]
    assert second["routingConfiguration"] == [{"agentVersion": "2"}]
    moved = gw.agent.update_agent_alias(
        agentId=agent_id,
        agentAliasId=alias["agentAliasId"],
        agentAliasName="live",
        routingConfiguration=[{"agentVersion": "2"}],
    )["agentAlias"]
    assert moved["routingConfiguration"] == [{"agentVersion": "2"}]
    assert [e["routingConfiguration"] for e in moved["agentAliasHistoryEvents"]] == [
        [{"agentVersion": "1"}],
        [{"agentVersion": "2"}],
    ]
    assert "endDate" in moved["agentAliasHistoryEvents"][0]

    aliases = gw.agent.list_agent_aliases(agentId=agent_id)["agentAliasSummaries"]
    assert aliases[0]["agentAliasId"] == "TSTALIASID" and len(aliases) == 3
    assert gw.agent.get_agent_alias(agentId=agent_id, agentAliasId="TSTALIASID")["agentAlias"][
        "routingConfiguration"
    ] == [{"agentVersion": "DRAFT"}]
    with pytest.raises(gw.agent.exceptions.ValidationException, match="agentAliasId"):
        gw.agent.delete_agent_alias(agentId=agent_id, agentAliasId="TSTALIASID")
    with pytest.raises(gw.agent.exceptions.ConflictException, match="alias"):
        gw.agent.delete_agent_version(agentId=agent_id, agentVersion="2")
    with pytest.raises(gw.agent.exceptions.ValidationException, match="DRAFT"):
        gw.agent.create_agent_alias(
            agentId=agent_id, agentAliasName="draft", routingConfiguration=[{"agentVersion": "DRAFT"}]
        )
    with pytest.raises(gw.agent.exceptions.ResourceNotFoundException):
        gw.agent.create_agent_alias(
            agentId=agent_id, agentAliasName="v9", routingConfiguration=[{"agentVersion": "9"}]
        )
    gw.agent.delete_agent_version(agentId=agent_id, agentVersion="1")
    assert [
        v["agentVersion"] for v in gw.agent.list_agent_versions(agentId=agent_id)["agentVersionSummaries"]
    ] == ["DRAFT", "2"]
    with pytest.raises(gw.agent.exceptions.ConflictException, match="in use by aliases"):
        gw.agent.delete_agent(agentId=agent_id)
    gw.agent.delete_agent(agentId=agent_id, skipResourceInUseCheck=True)


def test_another_tenants_agent_is_not_found(gw):
    agent_id = make_agent(gw, function_group())
    alias_id = gw.agent.create_agent_alias(agentId=agent_id, agentAliasName="live")["agentAlias"][
        "agentAliasId"
    ]
    other, _ = gw.clients_for("globex")
    missing = other.exceptions.ResourceNotFoundException
    for call in (
        lambda: other.get_agent(agentId=agent_id),
        lambda: other.prepare_agent(agentId=agent_id),
        lambda: other.delete_agent(agentId=agent_id),
        lambda: other.list_agent_action_groups(agentId=agent_id, agentVersion="DRAFT"),
        lambda: other.create_agent_action_group(
            agentId=agent_id, agentVersion="DRAFT", **function_group("x")
        ),
        lambda: other.get_agent_alias(agentId=agent_id, agentAliasId=alias_id),
        lambda: other.list_agent_versions(agentId=agent_id),
    ):
        with pytest.raises(missing):
            call()
    assert other.list_agents()["agentSummaries"] == []
    assert gw.agent.get_agent(agentId=agent_id)["agent"]["agentStatus"] == "PREPARED"


def test_model_validation_errors_name_the_field(gw):
    # botocore checks only required/type/min on the client: the gateway checks max, enum, pattern
    with pytest.raises(
        gw.agent.exceptions.ValidationException, match=r"instruction.*length less than or equal to 4000"
    ):
        gw.agent.create_agent(agentName="long", foundationModel=PLANNER, instruction="x" * 4001)
    with pytest.raises(gw.agent.exceptions.ValidationException, match="idleSessionTTLInSeconds"):
        gw.agent.create_agent(agentName="ttl", foundationModel=PLANNER, idleSessionTTLInSeconds=9000)
    with pytest.raises(gw.agent.exceptions.ValidationException, match="agentName"):
        gw.agent.create_agent(agentName="no spaces allowed", foundationModel=PLANNER)
    with pytest.raises(gw.agent.exceptions.ValidationException, match="agentId"):
        gw.agent.get_agent(agentId="lowercase!!")


def test_agents_and_aliases_are_taggable(gw):
    created = gw.agent.create_agent(
        agentName="tagged", foundationModel=PLANNER, instruction=INSTRUCTION, tags={"team": "travel"}
    )["agent"]
    arn = created["agentArn"]
    assert gw.agent.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "travel"}
    gw.agent.tag_resource(resourceArn=arn, tags={"stage": "beta"})
    assert gw.agent.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "travel", "stage": "beta"}
    gw.agent.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert gw.agent.list_tags_for_resource(resourceArn=arn)["tags"] == {"stage": "beta"}
    gw.agent.prepare_agent(agentId=created["agentId"])
    alias = gw.agent.create_agent_alias(
        agentId=created["agentId"], agentAliasName="live", tags={"env": "prod"}
    )
    alias_arn = alias["agentAlias"]["agentAliasArn"]
    assert gw.agent.list_tags_for_resource(resourceArn=alias_arn)["tags"] == {"env": "prod"}
    other, _ = gw.clients_for("globex")
    with pytest.raises(other.exceptions.ResourceNotFoundException):
        other.tag_resource(resourceArn=arn, tags={"mine": "now"})
    with pytest.raises(other.exceptions.ResourceNotFoundException):
        other.list_tags_for_resource(resourceArn=alias_arn)
