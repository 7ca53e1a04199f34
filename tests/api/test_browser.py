"""The pages in a real browser: Playwright drives Debian's chromium against a real `matchgraph serve`.

Screenshots of every page land in test-artifacts/screenshots/ (printed; gitignored).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import ROOT, SD, TROCR, clean_env, free_ports, running_servers, serve_command

pytestmark = [pytest.mark.browser, pytest.mark.slow]

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


# Text boxes of the page's leaf texts (the text itself, not its element: text that overflows its
# cell runs into the next one), and the pairs that overlap.
OVERLAPS = """(selector) => {
  const boxes = [];
  for (const el of document.querySelectorAll(selector)) {
    const folded = el.closest("details:not([open])");
    if (folded && !el.closest("summary")) continue;  // not drawn while its <details> is closed
    for (const node of el.childNodes) {
      if (node.nodeType !== Node.TEXT_NODE || !node.textContent.trim()) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      for (const r of range.getClientRects()) {
        if (r.width > 0 && r.height > 0) boxes.push({text: node.textContent.trim().slice(0, 40), r});
      }
    }
  }
  const hits = [];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i].r, b = boxes[j].r;
      const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (w > 1 && h > 1) hits.push([boxes[i].text, boxes[j].text]);
    }
  }
  return hits;
}"""


def test_docs_load_from_the_server_and_list_the_operations(page, server):
    page.goto("/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/search" in [p.strip() for p in paths] and len(paths) >= 8, paths
    scripts = page.evaluate("[...document.scripts].map(s => s.src).filter(Boolean)")
    assert scripts and all(s.startswith(server) for s in scripts), scripts  # nothing from a CDN
    shot(page, "08-docs")
    assert not page.js_errors, page.js_errors


def test_comparison_shows_unique_and_vs_alternatives_and_no_text_overlaps(page, server):
    page.goto(f"/compare/{TROCR}/vs/{SD}")
    caps = page.locator("#capabilities-a").inner_text()
    assert "Handwritten text recognition" in caps
    labels = page.locator("#capabilities-a .cap .label").all_text_contents()
    assert "Unique" in labels and "vs alternatives" in labels
    assert "UNIQUE" in page.locator("#capabilities-b").inner_text().upper()
    verdict = page.locator("#verdict p").inner_text()
    assert verdict.startswith("trocr-base-handwritten and Stable Diffusion do different things")
    assert "free tier" not in verdict and "is free, while Stable Diffusion is paid" in verdict
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    shot(page, "09-compare-capabilities")
    leaves = "h1, h2, h3, th, td, .align .row > div, .cap p, .cap .label, .badge, .legend span, li, .rank, .mid"
    assert page.evaluate(OVERLAPS, leaves) == []

    # a pair with shared capabilities: the alignment table's header fits its columns
    page.goto(f"/compare/{TROCR}/vs/microsoft/trocr-large-handwritten")
    assert page.locator(".align .row").count() >= 2
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    assert page.evaluate(OVERLAPS, leaves) == []
    header = page.evaluate("""[...document.querySelectorAll('.align .hd > div')].map(d => [d.scrollWidth, d.clientWidth])""")
    assert all(scroll <= client for scroll, client in header), header
    shot(page, "10-compare-shared")
    assert not page.js_errors, page.js_errors


def test_whole_graph_fills_the_canvas_with_labels_that_do_not_overlap(page, server):
    page.goto("/graph?all=1&limit=300")
    page.wait_for_selector("#cy[data-ready='1'] canvas")
    notice = page.locator("#cap-notice").inner_text()
    total = int(page.locator("#cy").get_attribute("data-total"))
    assert f"Showing 300 of {total} nodes" in notice and total > 300
    assert page.locator("#cap-notice a", has_text="600").count() == 1  # a way to see more
    assert "capability" in page.locator("#legend").inner_text()
    page.wait_for_timeout(300)
    layout = page.evaluate("""(() => {
      const box = document.getElementById('cy').getBoundingClientRect();
      const bb = window.cy.nodes().renderedBoundingBox({includeLabels: false});
      // the boxes the page gave the labels it shows: the text drawn must not reach past its box's
      // outer edges (Cytoscape's own label box is padded up and down, and a label beside its node
      // is boxed from the node's centre, so only the outer sides are compared)
      const shown = window.cy.nodes('.lbl');
      const kinds = new Set(shown.map(n => n.data('type')));
      const boxes = shown.map(n => window.graphLabels[n.id()]);
      const narrow = shown.filter(n => {
        const drawn = n.renderedBoundingBox({includeNodes: false, includeLabels: true}), b = window.graphLabels[n.id()];
        const side = n.data('th');
        return (side !== 'right' && drawn.x1 < b.x1 - 1) || (side !== 'left' && drawn.x2 > b.x2 + 1);
      }).map(n => n.id());
      let overlaps = 0;
      for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i], b = boxes[j];
        if (Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1) > 1 && Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1) > 1) overlaps++;
      }
      return {fillW: bb.w / box.width, fillH: bb.h / box.height, labels: shown.length, overlaps, narrow, kinds: [...kinds],
              layout: document.getElementById('cy').dataset.layout};
    })()""")
    assert layout["layout"] == "fcose"
    assert layout["fillW"] > 0.75 and layout["fillH"] > 0.6, layout  # the drawing fills the canvas
    assert layout["overlaps"] == 0 and layout["narrow"] == [] and layout["labels"] >= 40, layout
    assert {"artifact", "query"} <= set(layout["kinds"]), layout
    shot(page, "11-graph-whole")
    # hovering a node shows its full label
    full = page.evaluate("""(() => { const n = window.cy.nodes('.query').filter(n => n.data('label').length > 20)[0];
        n.emit('mouseover'); return [n.data('label'), document.getElementById('cy').title]; })()""")
    assert full[0] == full[1]
    assert not page.js_errors, page.js_errors
