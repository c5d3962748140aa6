"""Lambda handlers the agent tests register (``STRATA_AGENTS_FUNCTIONS`` / ``AgentSettings.functions``).

Each is written exactly as a Bedrock action-group Lambda is: ``handler(event, context)`` reading
Bedrock's input event and answering Bedrock's response shape, so the same code would run on AWS.
``CALLS`` records every event, so tests can check what the agent sent.
"""

from __future__ import annotations

import json
import threading
from typing import Any

CALLS: list[dict[str, Any]] = []
RELEASE = threading.Event()  # what a blocked handler waits for (set at the end of the test)

FORECASTS = {"paris": "sunny, 24 C", "oslo": "rain, 9 C", "tokyo": "cloudy, 18 C"}


def _params(event: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in event.get("parameters", [])}


def function_response(event: dict[str, Any], body: str, **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"responseBody": {"TEXT": {"body": body}}}
    if "responseState" in extra:
        result["responseState"] = extra.pop("responseState")
    return {
        "messageVersion": "1.0",
        "response": {
            "actionGroup": event["actionGroup"],
            "function": event["function"],
            "functionResponse": result,
        },
        **extra,
    }


def weather(event: dict[str, Any], context: Any) -> dict[str, Any]:
    CALLS.append(event)
    city = _params(event).get("city", "").lower()
    forecast = FORECASTS.get(city, "unknown")
    attributes = {**event.get("sessionAttributes", {}), "lastCity": city}
    return function_response(event, f"Forecast for {city}: {forecast}", sessionAttributes=attributes)


async def async_weather(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return weather(event, context)


def orders_api(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """An OpenAPI action group's handler: answers ``apiPath`` / ``httpMethod`` calls."""
    CALLS.append(event)
    params = _params(event)
    if event["apiPath"] == "/orders/{orderId}":
        body = json.dumps({"orderId": params.get("orderId"), "status": "shipped"})
    else:
        props = event["requestBody"]["content"]["application/json"]["properties"]
        body = json.dumps({"created": {p["name"]: p["value"] for p in props}})
    return {
        "messageVersion": "1.0",
        "response": {
            "actionGroup": event["actionGroup"],
            "apiPath": event["apiPath"],
            "httpMethod": event["httpMethod"],
            "httpStatusCode": 200,
            "responseBody": {"application/json": {"body": body}},
        },
    }


def boom(event: dict[str, Any], context: Any) -> dict[str, Any]:
    CALLS.append(event)
    raise RuntimeError("the warehouse database is down")


def blocked(event: dict[str, Any], context: Any) -> dict[str, Any]:
    CALLS.append(event)
    RELEASE.wait(timeout=30)
    return function_response(event, "too late")


def garbage(event: dict[str, Any], context: Any) -> Any:
    return {"not": "a bedrock response"}


def failing(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return function_response(event, "payment provider rejected the call", responseState="FAILURE")


FUNCTIONS = {
    "weather": f"{__name__}:weather",
    "async-weather": f"{__name__}:async_weather",
    "orders": f"{__name__}:orders_api",
    "boom": f"{__name__}:boom",
    "blocked": f"{__name__}:blocked",
    "garbage": f"{__name__}:garbage",
    "failing": f"{__name__}:failing",
}


def arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
