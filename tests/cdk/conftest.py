"""Synthesise the CDK app in-process, once per test session per configuration (cdk-nag included).

``default``: ``cdk/cdk.json`` as shipped (what ``make cdk-synth`` writes). ``full``: every optional
part on — HTTPS with a certificate, Bedrock pass-through, a Bedrock guardrail and knowledge base,
and a second endpoint whose plan puts several copies on one GPU instance (an inference component).
Synthesis raises if cdk-nag reports an unacknowledged finding, so both fixtures passing is the
nag check. Asset staging is off: the templates are the same, the repo is not copied.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk.assertions import Template

from cdk.app import STACK_NAMES, build_app
from cdk.settings import Settings, default_context, from_context

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
BEDROCK_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
EMBEDDING_ARN = "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0"
COMPONENT_ENDPOINT = {
    "name": "strata-small",
    "model": "smollm2-135m",
    "instance": "ml.g5.12xlarge",
    "server": "lmi",
    "min_capacity": 1,
    "max_capacity": 3,
}


def pytest_configure(config) -> None:
    # Registered here (not in pyproject.toml) so the marker lives with the tests that use it.
    config.addinivalue_line(
        "markers",
        "cdk: synthesises the AWS CDK app in-process (about 30 s per configuration, once a session)",
    )


def full_context() -> dict[str, Any]:
    ctx = copy.deepcopy(default_context())
    ctx["strata:endpoints"].append(COMPONENT_ENDPOINT)
    ctx["strata:gateway"] |= {
        "certificate_arn": CERT,
        "bedrock_models": [BEDROCK_MODEL],
        "guardrail": True,
        "knowledge_base": True,
        "embedding_model_arn": EMBEDDING_ARN,
        "ingress_cidr": "203.0.113.0/24",
    }
    return ctx


@dataclass
class Synth:
    """One synthesised app: its settings, the stack objects and their templates as written."""

    settings: Settings
    outdir: Path
    stacks: dict[str, Any]
    templates: dict[str, dict[str, Any]]

    def template(self, stack: str) -> Template:
        return Template.from_json(self.templates[stack])

    def resources(self, stack: str, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.templates[stack]["Resources"].items() if v["Type"] == type_}


def _synth(context: dict[str, Any], outdir: Path) -> Synth:
    context = context | {"aws:cdk:disable-asset-staging": True}
    app = build_app(context, outdir=str(outdir))
    app.synth()  # raises on an unacknowledged cdk-nag finding
    stacks = {c.node.id: c for c in app.node.children if c.node.id in STACK_NAMES}
    templates = {name: json.loads((outdir / f"{name}.template.json").read_text()) for name in STACK_NAMES}
    return Synth(from_context(app.node.try_get_context), outdir, stacks, templates)


@pytest.fixture(scope="session")
def default_synth(tmp_path_factory) -> Synth:
    return _synth(default_context(), tmp_path_factory.mktemp("cdk-default"))


@pytest.fixture(scope="session")
def full_synth(tmp_path_factory) -> Synth:
    return _synth(full_context(), tmp_path_factory.mktemp("cdk-full"))
