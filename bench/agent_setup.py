"""The gateway, the knowledge base and the agent that bench/agents.py measures.

- :func:`gateway_config`: the scripted model (``scripted.oracle-v1:0``), the embedded SmolLM2 and
  MiniLM embeddings, plus the providers and models of ``--config`` (a stronger routed model);
- :func:`action_groups`: the shop's five action groups as boto3 ``create_agent_action_group``
  arguments (catalog and cart: function schemas; orders: OpenAPI; payments: RETURN_CONTROL;
  AMAZON.UserInput);
- :func:`make_knowledge_base` / :func:`make_agent`: created, ingested and prepared through boto3;
- :func:`tool_specs`: the agent's tools exactly as its model sees them, for the LangChain baseline.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

import uvicorn

from model_layer.agents import AgentSettings
from model_layer.agents.catalog import build_catalog
from model_layer.agents.definitions import action_group_body
from model_layer.agents.executors import FunctionRegistry
from model_layer.serving import uvicorn_config

DATA = Path(__file__).resolve().parent / "data" / "agents"
SCRIPTED, LOCAL, EMBED = "scripted.oracle-v1:0", "local.smollm2-135m-instruct-v1:0", "amazon.minilm-l6-v2:0"
INSTRUCTION = (
    "You are the shopping assistant of Trailhead Outfitters, an outdoor gear shop. Use the tools to "
    "search the catalog, manage the cart, look orders up, check out, pay and answer policy questions."
)
KB_DESCRIPTION = "Store policies: returns, shipping, warranty, price match, gift cards"
# Lambda function names -> the world's handlers (the gateway's documented Lambda convention)
FUNCTIONS = {
    "shop-catalog": "agent_world:catalog_handler",
    "shop-cart": "agent_world:cart_handler",
    "shop-orders": "agent_world:orders_handler",
}


def arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:123456789012:function:{name}"


def _fn(name: str, description: str, **params: tuple[str, str]) -> dict[str, Any]:
    details = {p: {"type": t, "description": d, "required": True} for p, (t, d) in params.items()}
    return {"name": name, "description": description, "parameters": details}


def action_groups() -> list[dict[str, Any]]:
    orders = json.loads((DATA / "orders-openapi.json").read_text())
    catalog = [
        _fn("search_products", "Search the catalog by words", query=("string", "What to look for")),
        _fn("get_product", "One product's details and stock", product_id=("string", "A product id (P-...)")),
    ]
    cart = [
        _fn(
            "add_to_cart",
            "Add a product to the cart",
            product_id=("string", "P-..."),
            quantity=("integer", "How many"),
        ),
        _fn("remove_from_cart", "Remove a product from the cart", product_id=("string", "P-...")),
        {"name": "view_cart", "description": "What the cart holds and its total"},
    ]
    charge = _fn(
        "charge_card",
        "Pay an order that awaits payment",
        order_id=("string", "O-..."),
        amount=("number", "The order total"),
    )
    return [
        {
            "actionGroupName": "catalog",
            "actionGroupExecutor": {"lambda": arn("shop-catalog")},
            "functionSchema": {"functions": catalog},
        },
        {
            "actionGroupName": "cart",
            "actionGroupExecutor": {"lambda": arn("shop-cart")},
            "functionSchema": {"functions": cart},
        },
        {
            "actionGroupName": "orders",
            "actionGroupExecutor": {"lambda": arn("shop-orders")},
            "apiSchema": {"payload": json.dumps(orders)},
        },
        {
            "actionGroupName": "payments",
            "actionGroupExecutor": {"customControl": "RETURN_CONTROL"},
            "functionSchema": {"functions": [charge]},
        },
        {"actionGroupName": "ask", "parentActionGroupSignature": "AMAZON.UserInput"},
    ]


def gateway_config(extra: Path | None) -> dict[str, Any]:
    local_chat = {"provider": "local", "upstream": "smollm2-135m-instruct", "context_window": 2048}
    config: dict[str, Any] = {
        "providers": [{"name": "oracle", "type": "fake"}, {"name": "local", "type": "local"}],
        "models": [
            {"id": SCRIPTED, "provider": "oracle"},
            {"id": LOCAL, **local_chat},
            {"id": EMBED, "provider": "local", "upstream": "all-minilm-l6-v2", "kind": "embedding",
             "native_format": "titan-embed", "streaming": False, "context_window": 256},
        ],
        "retry": {"max_attempts": 1},
    }  # fmt: skip
    if extra is not None:
        more = tomllib.loads(extra.read_text())
        config["providers"] += more.get("providers", [])
        config["models"] += more.get("models", [])
    return config


def serve(app: Any) -> tuple[str, Any]:
    """Serve ``app`` on a free loopback port in a thread; the URL and the server (to stop it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(app, app.state.settings, host="127.0.0.1", port=port))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the gateway did not start")
        time.sleep(0.05)  # bounded polling for the server's start flag
    return f"http://127.0.0.1:{port}", server


def make_knowledge_base(agent: Any) -> str:
    kb = agent.create_knowledge_base(
        name="policies",
        roleArn="arn:aws:iam::123456789012:role/bench",
        knowledgeBaseConfiguration={
            "type": "VECTOR",
            "vectorKnowledgeBaseConfiguration": {
                "embeddingModelArn": f"arn:aws:bedrock:us-east-1::foundation-model/{EMBED}"
            },
        },
    )["knowledgeBase"]["knowledgeBaseId"]
    seeds = [{"url": (DATA / "policies").as_uri()}]
    source = {
        "type": "WEB",
        "webConfiguration": {"sourceConfiguration": {"urlConfiguration": {"seedUrls": seeds}}},
    }
    ds = agent.create_data_source(knowledgeBaseId=kb, name="policies", dataSourceConfiguration=source)
    ds_id = ds["dataSource"]["dataSourceId"]
    job = agent.start_ingestion_job(knowledgeBaseId=kb, dataSourceId=ds_id)["ingestionJob"]["ingestionJobId"]
    deadline = time.monotonic() + 300
    while True:
        found = agent.get_ingestion_job(knowledgeBaseId=kb, dataSourceId=ds_id, ingestionJobId=job)
        status = found["ingestionJob"]["status"]
        if status == "COMPLETE":
            return kb
        if status in ("FAILED", "STOPPED") or time.monotonic() > deadline:
            raise RuntimeError(f"ingesting the policies ended {status}")
        time.sleep(0.2)  # bounded polling with a deadline


def make_agent(agent: Any, model: str, kb_id: str, max_tokens: int) -> str:
    """Create, equip and prepare the shop's agent on ``model``; its id."""
    overrides = {
        "promptConfigurations": [
            {"promptType": "ORCHESTRATION", "promptCreationMode": "DEFAULT",
             "inferenceConfiguration": {"maximumLength": max_tokens, "temperature": 0.0}}
        ]
    }  # fmt: skip
    agent_id = agent.create_agent(
        agentName=f"shop-{model.split('.')[0]}-{int(time.time() * 1000) % 100000}",
        foundationModel=model,
        instruction=INSTRUCTION,
        promptOverrideConfiguration=overrides,
    )["agent"]["agentId"]
    for group in action_groups():
        agent.create_agent_action_group(agentId=agent_id, agentVersion="DRAFT", **group)
    agent.associate_agent_knowledge_base(
        agentId=agent_id, agentVersion="DRAFT", knowledgeBaseId=kb_id, description=KB_DESCRIPTION
    )
    agent.prepare_agent(agentId=agent_id)
    return agent_id


def tool_specs(kb_id: str, settings: AgentSettings) -> list[dict[str, Any]]:
    """The agent's tools exactly as its model sees them (the LangChain baseline gets the same)."""
    groups = [
        action_group_body(g, settings, FunctionRegistry(settings), lambda b, k: "") for g in action_groups()
    ]
    kbs = [{"knowledgeBaseId": kb_id, "description": KB_DESCRIPTION}]
    catalog = build_catalog({"actionGroups": groups, "knowledgeBases": kbs})
    return [
        {"name": t.name, "description": t.spec.description, "inputSchema": t.spec.input_schema}
        for t in catalog.tools
        if t.kind != "user_input"
    ]
