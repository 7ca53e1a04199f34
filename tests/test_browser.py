"""The pages in a real browser: Playwright drives Debian's chromium against a real `matchgraph serve`.

Screenshots of every page land in test-artifacts/screenshots/ (printed; gitignored).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import ROOT, SD, TROCR, clean_env, free_ports, running_servers, serve_command

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "test-artifacts" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]


@pytest.fixture(scope="module")
def server(tmp_path_factory, demo_home_ro):
    """`matchgraph serve` on a copy of the demo home, on a free port; yields its base URL."""
    home = tmp_path_factory.mktemp("served")
    shutil.copytree(demo_home_ro, home, dirs_exist_ok=True)
    port = free_ports(1)[0]
    with running_servers([serve_command(home, port)], [f"http://127.0.0.1:{port}"],
                         clean_env(MATCHGRAPH_TOKEN="browser-test-token"),
                         tmp_path_factory.mktemp("logs")) as urls:
        yield urls[0]


@pytest.fixture(scope="module")
def page(server):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {SHOTS}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=server)
        page = context.new_page()
        page.set_default_timeout(30_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.js_errors = errors
        yield page
        context.close()
        browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_search_compare_graph(page, server):
    # 1. search: type a handwriting request, see trocr-base-handwritten
    page.goto("/")
    assert page.locator("h1").inner_text() == "Search the match graph"
    shot(page, "01-home")
    page.fill("input[name=q]", "read handwritten letters")
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**/?q=*")
    results = page.locator("article.result")
    assert results.count() >= 2
    trocr = page.locator(f"article.result[data-artifact='{TROCR}']")
    assert trocr.count() == 1, "trocr-base-handwritten is among the results"
    assert "trocr-base-handwritten" in trocr.inner_text()
    assert "/100" in trocr.inner_text() and "Matched capability" in trocr.inner_text()
    shot(page, "02-search-results")

    # 2. artifact page
    trocr.locator("h3 a").click()
    page.wait_for_url(f"**/a/{TROCR}")
    assert page.locator("h1").inner_text() == "trocr-base-handwritten"
    assert "Times Matched" in page.locator("#scores").inner_text()
    folded = page.locator("details.more summary")
    assert folded.count() == 1 and folded.inner_text().startswith("+") and "more capabilities" in folded.inner_text()
    shot(page, "03-artifact")

    # 3. the comparison with Stable Diffusion: the seed table and the verdict
    page.goto(f"/compare/{TROCR}/vs/{SD}")
    table = page.locator("#table table").inner_text()
    for row in ("Type", "Rank", "Adoption", "Quality", "Ecosystem", "Match Graph", "Pricing",
                "Capabilities", "Times Matched"):
        assert row in table, row
    assert "decomposed" in table
    verdict = page.locator("#verdict").inner_text()
    assert "trocr-base-handwritten" in verdict and "Stable Diffusion" in verdict and "/100" in verdict
    assert page.locator("#chart svg rect.va").count() >= 5
    shot(page, "04-compare")

    # 4. the graph view around trocr: nodes drawn by the vendored library
    page.locator("a", has_text="in the graph").first.click()
    page.wait_for_url("**/graph?*")
    page.wait_for_selector("#cy[data-ready='1'] canvas")
    drawn = page.evaluate("window.cy.nodes().length")
    assert drawn >= 5
    assert page.evaluate(f"window.cy.getElementById('a:{TROCR}').length") == 1
    assert page.locator(".downloads a").count() == 4
    page.wait_for_timeout(300)
    shot(page, "05-graph")

    # clicking a node shows it in the side panel
    node = page.evaluate(f"""(() => {{ const n = window.cy.getElementById('a:{TROCR}');
        const p = n.renderedPosition(); const r = document.getElementById('cy').getBoundingClientRect();
        return [r.left + p.x, r.top + p.y]; }})()""")
    page.mouse.click(node[0], node[1])
    page.wait_for_selector("#node-info a[href^='/a/']")
    shot(page, "06-graph-selected")
    assert not page.js_errors, page.js_errors


def test_compare_link_from_results_and_filters(page, server):
    page.goto("/?q=make+a+picture+from+a+sentence&kind=model")
    assert page.locator("select[name=kind]").input_value() == "model"
    link = page.locator("a.compare-next").first
    link.click()
    page.wait_for_url("**/compare/**/vs/**")
    assert page.locator("#verdict").count() == 1
    page.goto("/a/no-such-artifact")
    assert "Not found" in page.locator("h1").inner_text()
    shot(page, "07-not-found")
    assert not page.js_errors, page.js_errors
