"""The web page and its API: NDJSON streaming, bad requests, the cart — and the page in a real
headless browser (Playwright driving Debian's chromium), skipped only when chromium is absent."""

from __future__ import annotations

import json
import shutil

import httpx
import pytest

from applications.shopping.shop import open_shop
from applications.shopping.web import create_web_app
from tests.model_layer.agents.scripted import call, text
from tests.model_layer.live import serve_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def web(shop):
    with serve_app(create_web_app(shop)) as url:
        yield url


def events(response: httpx.Response) -> list[dict]:
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def test_chat_streams_ndjson_events_and_the_cart_api(web, gateway):
    gateway.model.script(
        call("add_to_cart", {"product_id": "P023"}), text("Added the Kids Critter Headlamp [P023].")
    )
    with httpx.Client(base_url=web, timeout=60) as http:
        response = http.post(
            "/api/chat", json={"message": "add the critter headlamp to my cart", "session": "w-1"}
        )
        assert response.status_code == 200 and response.headers["content-type"] == "application/x-ndjson"
        got = events(response)
        assert got[0]["type"] == "tool" and got[-1]["type"] == "done"
        assert got[-1]["answer"]["cart"]["total"] == 24.99  # 19.00 + 5.99 shipping
        assert http.get("/api/cart", params={"session": "w-1"}).json()["items"] == 1
        removed = http.post("/api/cart/remove", json={"session": "w-1", "product_id": "P023"})
        assert removed.status_code == 200 and removed.json()["items"] == 0
        again = http.post("/api/cart/remove", json={"session": "w-1", "product_id": "P023"})
        assert again.status_code == 404 and again.json() == {"error": "P023 is not in the cart"}
        assert http.get("/").headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "send a JSON object"),
        (b"[1]", "send a JSON object"),
        (json.dumps({"message": " ", "session": "s"}).encode(), "'message' must be a non-empty string"),
        (json.dumps({"message": "x" * 2001, "session": "s"}).encode(), "longer than 2000"),
        (json.dumps({"message": "hi", "session": "../etc"}).encode(), "'session' must be"),
    ],
)
def test_bad_chat_requests_are_400_with_a_reason(web, body, message):
    response = httpx.post(f"{web}/api/chat", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and message in response.json()["error"]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_the_page_in_a_real_browser(web, gateway, shop, store_home, tmp_path):
    pytest.importorskip("playwright", reason="playwright is not installed (a dev dependency: make setup)")
    from playwright.sync_api import expect, sync_playwright

    gateway.model.script(
        call("get_product", {"product_id": "P020"}),
        text("The Beam 900 [P020] charges over USB-C. It costs $79.00."),
        call("add_to_cart", {"product_id": "P020"}),
        text("Added the Beam 900 [P020] to your cart."),
    )
    (tmp_path / "down").mkdir()
    (tmp_path / "down" / "store.json").write_bytes((store_home / "store.json").read_bytes())
    down_shop = open_shop(gateway.settings(tmp_path / "down", url="http://127.0.0.1:9"))
    with sync_playwright() as p, serve_app(create_web_app(down_shop)) as down_url:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(web)
        page.fill("#message", "Tell me about the Beam 900 headlamp")
        page.click("#send")
        expect(page.locator(".card[data-id=P020]")).to_contain_text("$79.00")
        expect(page.locator(".msg.assistant .text").last).to_have_text(
            "The Beam 900 [P020] charges over USB-C. It costs $79.00.", timeout=30_000
        )
        expect(page.locator(".citation").last).to_have_text("P020")
        page.fill("#message", "add the Beam 900 to my cart")
        page.press("#message", "Enter")
        expect(page.locator(".cart-line[data-id=P020]")).to_contain_text("1 × Beam 900 Rechargeable Headlamp")
        expect(page.locator("#cart-totals")).to_have_text("Subtotal $79.00 · Shipping $0.00 · Total $79.00")
        page.reload()  # the session (and so the cart) outlives the page
        expect(page.locator(".cart-line[data-id=P020]")).to_be_visible()
        page.click(".cart-line[data-id=P020] button.remove")
        expect(page.locator("#cart-totals")).to_have_text("Your cart is empty.")
        # a gateway that is down: a clear message in the page, never a blank answer
        page.goto(down_url)
        page.fill("#message", "what tents do you have?")
        page.click("#send")
        expect(page.locator("#banner")).to_contain_text("Your cart is saved")
        browser.close()
    down_shop.close()
