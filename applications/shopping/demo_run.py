"""``strata shop demo`` (what ``make run`` runs): the gateway and the shopping page on the demo store.

The gateway is another process (``strata up``: the embedded SmolLM2 chat model and MiniLM
embeddings), started here as a child and stopped with it; the app still reaches it only over HTTP
through the SDK. Its keys come from ``strata keys create --tenant shop-demo --json`` the first time
and are kept in ``<home>/demo-keys.json`` (0600) for later runs. The demo catalog is loaded when
this home has no store yet or the gateway no longer has its knowledge base.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from applications.shopping.catalog import load_catalog, load_policies
from applications.shopping.loader import DEMO_CATALOG, DEMO_POLICIES, StoreState, load_store
from applications.shopping.shop import ShopSettings
from model_layer.sdk import GuardrailsClient, KnowledgeBasesClient, ResourceNotFoundError
from strata.errors import StrataError

DEMO_TENANT = "shop-demo"
START_TIMEOUT_S = 180.0


def _strata() -> str:
    beside = Path(sys.executable).with_name("strata")
    return str(beside) if beside.exists() else (shutil.which("strata") or "strata")


def demo_keys(home: Path) -> str:
    """The demo tenant's API key: saved from the first run, else issued now by the gateway's CLI."""
    path = home / "demo-keys.json"
    if path.exists():
        return str(json.loads(path.read_text())["apiKey"])
    done = subprocess.run(
        [_strata(), "keys", "create", "--tenant", DEMO_TENANT, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise StrataError(f"could not issue the demo keys: {done.stderr.strip() or done.stdout.strip()}")
    keys = json.loads(done.stdout)
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"tenantId": keys["tenantId"], "apiKey": keys["apiKey"]}, f)
    return str(keys["apiKey"])


def wait_for_gateway(url: str, process: subprocess.Popen[Any], timeout_s: float = START_TIMEOUT_S) -> None:
    """Poll ``/health`` until the gateway answers (bounded); fail fast if its process exited."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StrataError(f"the gateway exited with status {process.returncode} before it was ready")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)  # polling a child process's port: nothing to wait on but the port itself
    raise StrataError(f"the gateway did not answer on {url} within {timeout_s:.0f} s")


def ensure_demo_store(settings: ShopSettings) -> StoreState:
    """Load the demo catalog unless this home's store is still in the gateway."""
    options = settings.client_options()
    with (
        KnowledgeBasesClient(settings.url, **options) as kbs,
        GuardrailsClient(settings.url, **options) as guards,
    ):
        state = StoreState.read(settings.home)
        if state is not None and state.knowledge_base_id:
            try:
                kbs.get_knowledge_base(state.knowledge_base_id)
                guards.get_guardrail(str(state.guardrail_id))
                return state
            except ResourceNotFoundError:
                (settings.home / "store.json").unlink()  # another gateway home: load afresh
        return load_store(
            settings.home,
            load_catalog(DEMO_CATALOG),
            DEMO_CATALOG,
            load_policies(DEMO_POLICIES),
            DEMO_POLICIES,
            kbs=kbs,
            guards=guards,
            name="demo",
        )


def run_demo(settings: ShopSettings, *, gateway_port: int, page_port: int, serve_page: Any) -> None:
    """Start the gateway, load the demo store, serve the page until Ctrl-C; stop the gateway."""
    api_key = settings.api_key or demo_keys(settings.home)
    url = f"http://127.0.0.1:{gateway_port}"
    gateway = subprocess.Popen([_strata(), "up", "--port", str(gateway_port)])  # its access log shows
    try:
        wait_for_gateway(url, gateway)
        settings.url, settings.api_key = url, api_key
        if "STRATA_SHOP_PLANNER" not in os.environ:
            settings.planner = "prefetch"  # the embedded 135M model cannot choose among 7 tools
        ensure_demo_store(settings)
        serve_page(settings, page_port)
    finally:
        gateway.terminate()
        try:
            gateway.wait(timeout=30)
        except subprocess.TimeoutExpired:
            gateway.kill()
