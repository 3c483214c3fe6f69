"""The people's pages in a real browser: Debian's headless Chromium driven by Playwright, against a
real ``omnirank serve`` secured as in production (an admin key, scoped keys from ``omnirank keys
create``, the public storefront key configured with ``OMNIRANK_STOREFRONT_KEY``).

Screenshots go to ``test-output/pages/`` (the README shows two of them), with the storefront's own
timings (``storefront-timings.json``): how fast the pages are is ``benchmarks/bench_pages.py``'s question.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

REPO = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).with_name("omnirank")
CHROMIUM = "/usr/bin/chromium"
ADMIN = "e2e-pages-admin-key-not-for-production"
SHOTS = REPO / "test-output" / "pages"
CUSTOMER_LOYALTY = "LY043728383"  # in the sample: POS receipts in ST-SAO and ST-RIO, app and web history
XSS_TITLE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> Zyxquo Trail Runner'
TIMEOUT_MS = 15_000

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium package is not installed"
)


@pytest.fixture(scope="module")
def site(trained_bundle, tmp_path_factory, start_server_process):
    """A secured server and the keys each person types."""
    state = tmp_path_factory.mktemp("pages-state")
    env = {
        **os.environ,
        "OMNIRANK_ADMIN_KEY": ADMIN,
        "OMNIRANK_DEV_MODE": "0",
        "OMNIRANK_EVENT_STORE_PATH": str(state / "events.sqlite3"),
        "OMNIRANK_RULES_PATH": str(state / "rules.json"),
    }

    def create_key(scope: str) -> str:
        cmd = [str(CLI), "keys", "create", "--scope", scope, "--name", f"pages {scope}"]
        done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    keys = {"search": create_key("search"), "associate": create_key("associate"), "admin": ADMIN}
    keys["personalize"] = create_key("personalize")
    env["OMNIRANK_STOREFRONT_KEY"] = keys["search"]
    with start_server_process(trained_bundle, state, env=env) as server:
        yield server.base, keys


@pytest.fixture(scope="module")
def browser():
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_sync.sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-component-update"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def is_ms(value: object) -> bool:
    """A number of milliseconds the page measured: a finite number, not negative."""
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < float("inf")


def write_timings(name: str, timings: dict) -> None:
    """The page's own measurements beside the screenshots, for a reader; no test judges their speed
    (a shared machine makes any bound flaky): ``benchmarks/bench_pages.py`` does, over many runs."""
    (SHOTS / name).write_text(json.dumps(timings, indent=2) + "\n")


def sign_in(page, name: str, key: str) -> None:
    page.locator(f"input[data-key={name}]").fill(key)
    page.get_by_role("button", name="Use key").click()


def test_storefront_suggests_searches_filters_and_posts_events(site, page):
    base, keys = site
    page.goto(f"{base}/")
    expect(page.locator("#trending .card").first).to_be_visible()  # first render: trending, no query yet
    page.reload()  # measured on a browser and a server that have started (not their own start-up)
    expect(page.locator("#trending .card").first).to_be_visible()
    # the page's own clock: from navigation start to the trending cards drawn (store, keys, API call).
    # How fast is benchmarks/bench_pages.py's question (target 1000 ms); here only that it is measured.
    rendered = page.evaluate("performance.getEntriesByName('omnirank:first-render').map(m => m.startTime)")
    assert len(rendered) == 1 and all(is_ms(v) for v in rendered), rendered
    page.select_option("#store", "ST-SAO")

    page.locator("#q").press_sequentially("runn", delay=40)
    suggestions = page.locator("#suggestions li")
    expect(suggestions.first).to_be_visible()
    assert any("running" in t.lower() for t in suggestions.all_inner_texts())
    # from the suggest answer to the list drawn (bench_pages.py times it against 16 ms)
    drawn = page.evaluate("performance.getEntriesByName('omnirank:suggest-render').map(m => m.duration)")
    assert drawn and all(is_ms(v) for v in drawn), drawn
    write_timings("storefront-timings.json", {"first_render_ms": rendered[0], "suggest_render_ms": drawn})
    page.locator("#q").press("ArrowDown")
    expect(page.locator("#suggestions li").first).to_have_attribute("aria-selected", "true")
    picked = page.locator("#suggestions li").first.locator("span").first.inner_text()
    page.locator("#q").press("Enter")
    cards = page.locator("#results .card")
    expect(cards.first).to_be_visible()
    expect(page.locator("#summary")).to_contain_text(picked)
    assert cards.count() > 3
    expect(cards.first.locator(".stock")).to_be_visible()  # stock in the chosen store

    brand_facet = page.locator("#facets button[data-facet=brand]").first
    brand = brand_facet.get_attribute("data-value")
    brand_facet.click()
    expect(page.locator(".chip.filter")).to_have_text(re.compile(rf"Brand: {re.escape(brand)}"))
    expect(page.locator("#results .card .brand").first).to_have_text(brand)
    assert set(page.locator("#results .card .brand").all_inner_texts()) == {brand}
    page.screenshot(path=str(SHOTS / "storefront.png"))

    # clicks and add-to-carts are events: with the personalize key they are stored (202)
    page.evaluate("k => sessionStorage.setItem('omnirank.key.personalize', k)", keys["personalize"])
    with page.expect_response(lambda r: r.url.endswith("/v1/events")) as clicked:
        cards.first.click()
    assert clicked.value.status == 202
    expect(page.locator("#similar .card").first).to_be_visible()
    with page.expect_response(lambda r: r.url.endswith("/v1/events")) as carted:
        page.locator("#add-to-cart").click()
    assert carted.value.status == 202 and carted.value.json()["accepted"] == 1
    expect(page.locator("#drawer .note.ok")).to_be_visible()
    page.screenshot(path=str(SHOTS / "storefront-product.png"))

    # removing the chip drops the filter
    page.keyboard.press("Escape")
    page.locator(".chip.filter button").click()
    expect(page.locator(".chip.filter")).to_have_count(0)


def test_storefront_intent_chips_and_bengali_script(site, page):
    base, _ = site
    page.goto(f"{base}/")
    page.locator("#q").fill("red running shoes under 50")
    page.locator("#q").press("Enter")
    expect(page.locator("#chips .chip[data-chip='under 50']")).to_be_visible()
    expect(page.locator("#chips .chip[data-chip='red']")).to_be_visible()
    page.locator(
        "#chips .chip[data-chip='under 50'] button"
    ).click()  # remove the price: searched again without it
    expect(page.locator("#chips .chip[data-chip='under 50']")).to_have_count(0)
    expect(page.locator("#q")).to_have_value("red running shoes")

    page.select_option("#lang", "bn")
    expect(page.locator("#trending h2")).to_have_text("এখন জনপ্রিয়")
    page.locator("#q").fill("লাল জুতো")
    page.locator("#q").press("Enter")
    expect(page.locator("#summary")).to_contain_text("“লাল জুতো”")
    expect(page.locator("#results .card").first).to_be_visible()
    page.screenshot(path=str(SHOTS / "storefront-bengali.png"))


def test_a_script_in_a_product_title_is_shown_as_text(site, page):
    base, keys = site
    planted = httpx.put(
        f"{base}/v1/products",
        json=[
            {"sku": "SKU-XSS-1", "title": XSS_TITLE, "category": "Footwear > Running Shoes", "price": 42.0}
        ],
        headers={"X-API-Key": keys["admin"]},
    )
    assert planted.status_code == 200 and planted.json()["applied"] == 1, planted.text
    page.goto(f"{base}/?q=zyxquo")
    card = page.locator("#results .card[data-sku='SKU-XSS-1']")
    expect(card.locator(".title")).to_have_text(XSS_TITLE)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#results script, #results img").count() == 0
    card.click()
    expect(page.locator("#drawer-title")).to_have_text(XSS_TITLE)
    assert page.evaluate("window.__pwned") is None


def test_failures_are_shown(site, page):
    base, _ = site
    page.goto(f"{base}/")
    expect(page.locator("#trending .card").first).to_be_visible()
    page.route("**/v1/search?*", lambda route: route.abort())
    page.locator("#q").fill("mug")
    page.locator("#q").press("Enter")
    expect(page.locator("#status .note.error")).to_contain_text("does not answer")
    page.unroute("**/v1/search?*")
    page.locator("#q").fill("qqqqzzzzxxxx")
    page.evaluate("sessionStorage.setItem('omnirank.key.storefront', 'ork_wrong.key')")
    page.locator("#q").press("Enter")
    expect(page.locator("#status .note.error")).to_contain_text("401")


def test_associate_looks_a_customer_up_and_sees_store_and_online_history(site, page):
    base, keys = site
    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(f"{base}/associate")
    sign_in(page, "associate", "ork_not.a_key")
    expect(page.locator("#status .note.error")).to_contain_text("401")
    sign_in(page, "associate", keys["associate"])
    expect(page.locator("#lookup")).to_be_visible()
    page.select_option("#store", "ST-SAO")

    page.locator("#identifier").fill("LY999999999")
    page.locator("#lookup-button").click()
    expect(page.locator("#status .note.warn")).to_contain_text("No customer found")

    page.locator("#identifier").fill(CUSTOMER_LOYALTY)
    with page.expect_request(lambda r: r.url.endswith("/v1/customers/lookup")) as sent:
        page.locator("#lookup-button").click()
    assert sent.value.method == "POST" and CUSTOMER_LOYALTY in (sent.value.post_data or "")
    assert CUSTOMER_LOYALTY not in sent.value.url
    expect(page.locator("#timeline li").first).to_be_visible()
    expect(page.locator("#ids")).to_contain_text("*******8383")
    assert CUSTOMER_LOYALTY not in page.content()  # masked only
    assert page.locator("#timeline li[data-channel=store]").count() >= 2  # POS: a purchase and a return
    assert page.locator("#timeline li[data-channel=app]").count() > 0
    assert page.locator("#timeline li[data-channel=web]").count() > 0
    expect(page.locator("#timeline li[data-channel=store]").first).to_contain_text("omnirank")  # store name
    offers = page.locator("#offers .offer")
    expect(offers.first).to_be_visible()
    assert all(t.strip() for t in page.locator("#offers .reason").all_inner_texts())
    assert page.locator("#lookup-button").bounding_box()["height"] >= 44  # touch-sized
    page.screenshot(path=str(SHOTS / "associate.png"))


def test_admin_adds_a_synonym_and_sees_the_preview_change(site, page):
    base, keys = site
    page.goto(f"{base}/admin")
    sign_in(page, "admin", keys["search"])
    expect(page.locator("#status .note.error")).to_contain_text("403")
    sign_in(page, "admin", keys["admin"])
    expect(page.locator("#editor")).to_be_visible()
    page.locator("#preview-q").fill("zoomies")
    expect(page.locator("#before li").first).to_be_visible()
    before = page.locator("#before li").all_inner_texts()
    assert not any("running shoes" in t.lower() for t in before)

    page.locator("#add-one-way").click()
    page.locator(".one-way-from").last.fill("zoomies")
    page.locator(".one-way-to").last.fill("running shoes")
    expect(page.locator("#after li.changed").first).to_be_visible()
    expect(page.locator("#after")).to_contain_text(re.compile("running shoes", re.I))

    page.get_by_role("button", name="+ Pin rule").click()
    rule = page.locator("#rules .rule").last
    rule.locator(".rule-id").fill("zoomies-pin")
    rule.locator(".rule-actions").fill('{"pin": [{"sku": "SKU-NOPE", "position": 1}]}')
    expect(rule.locator(".errors")).to_contain_text("unknown sku 'SKU-NOPE'")
    page.screenshot(path=str(SHOTS / "admin.png"))
    rule.get_by_role("button", name="Delete").click()
    page.locator("#save").click()
    expect(page.locator("#status .note.ok")).to_contain_text("saved")
    served = httpx.get(f"{base}/v1/admin/rules", headers={"X-API-Key": keys["admin"]}).json()
    assert served["synonyms"]["one_way"] == {"zoomies": ["running shoes"]}


def test_report_page_shows_the_bundle_report(site, page):
    base, keys = site
    page.goto(f"{base}/report")
    sign_in(page, "admin", keys["admin"])
    expect(page.locator("#report h1")).to_have_text("omnirank training report")
    assert page.locator("#report table").count() >= 3
    expect(page.locator("#report img").first).to_be_visible()
    assert page.locator("#report img").first.evaluate("img => img.naturalWidth") > 100
    page.screenshot(path=str(SHOTS / "report.png"), full_page=False)
