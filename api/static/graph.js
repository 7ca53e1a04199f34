/* The match graph explorer: draws /graph's embedded JSON with the vendored Cytoscape.js. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("graph-data").textContent);
  var box = document.getElementById("cy");
  var info = document.getElementById("node-info");
  if (!data.nodes || !data.nodes.length) {
    box.innerHTML = '<div class="empty">No nodes to draw.</div>';
    return;
  }
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function idOf(node) { return node.replace(/^[aqc]:/, ""); }
  function pathOf(id) { return id.split("/").map(encodeURIComponent).join("/"); }

  var maxW = 1;
  data.edges.forEach(function (e) { maxW = Math.max(maxW, e.weight || 0); });
  var elements = [];
  data.nodes.forEach(function (n) {
    elements.push({ group: "nodes", data: Object.assign({}, n, { short: n.label.length > 34 ? n.label.slice(0, 32) + "…" : n.label }),
                    classes: n.type + (n.id === data.ego ? " ego" : "") });
  });
  data.edges.forEach(function (e, i) {
    elements.push({ group: "edges", data: Object.assign({ id: "e" + i }, e, { w: 1 + 5 * Math.sqrt((e.weight || 0) / maxW) }),
                    classes: e.relation || "" });
  });

  // Labels: always for artifacts and the centre; for the strongest queries when the view is busy;
  // the rest appear on hover and around a clicked node, so the drawing stays readable.
  var strength = {};
  data.edges.forEach(function (e) {
    if (e.relation === "capability_of") { return; }
    strength[e.source] = (strength[e.source] || 0) + (e.weight || 0);
    strength[e.target] = (strength[e.target] || 0) + (e.weight || 0);
  });
  var busy = data.nodes.length > 24;
  var queries = data.nodes.filter(function (n) { return n.type === "query"; })
    .sort(function (x, y) { return (strength[y.id] || 0) - (strength[x.id] || 0); });
  var labelled = {};
  queries.slice(0, busy ? 10 : queries.length).forEach(function (n) { labelled[n.id] = true; });
  elements.forEach(function (el) {
    if (el.group !== "nodes") { return; }
    var d = el.data;
    if (d.type === "artifact" || d.id === data.ego || labelled[d.id] || (!busy && d.type === "capability")) {
      el.classes += " labelled";
    }
  });

  var cy = cytoscape({
    container: box,
    elements: elements,
    wheelSensitivity: 0.25,
    style: [
      { selector: "node", style: { "label": "", "font-size": 10, "color": "#39404f", "text-valign": "bottom",
          "text-margin-y": 4, "text-wrap": "wrap", "text-max-width": 140, "width": 18, "height": 18,
          "text-background-color": "#ffffff", "text-background-opacity": 0.75, "text-background-padding": 1 } },
      { selector: "node.artifact", style: { "background-color": "#4f46e5", "width": 30, "height": 30, "font-size": 12, "font-weight": 600, "color": "#1b2231" } },
      { selector: "node.capability", style: { "background-color": "#0e9f8e", "shape": "round-rectangle", "width": 16, "height": 16 } },
      { selector: "node.query", style: { "background-color": "#d97706", "shape": "diamond", "width": 20, "height": 20 } },
      { selector: "node.ego", style: { "border-width": 5, "border-color": "#c7c3ff", "width": 40, "height": 40 } },
      { selector: "node.labelled, node.hover, node.near", style: { "label": "data(short)" } },
      { selector: "node:selected", style: { "border-width": 4, "border-color": "#1b2231" } },
      { selector: "edge", style: { "width": "data(w)", "line-color": "#c9cede", "curve-style": "bezier", "opacity": 0.85,
          "target-arrow-shape": "triangle", "target-arrow-color": "#c9cede", "arrow-scale": 0.7 } },
      { selector: "edge.capability_of", style: { "line-style": "dashed", "width": 1.2, "line-color": "#9ad8cf", "target-arrow-color": "#9ad8cf" } },
      { selector: "edge.matched_capability", style: { "line-color": "#f3c98b", "target-arrow-color": "#f3c98b" } },
      { selector: ".faded", style: { "opacity": 0.15 } }
    ],
    layout: { name: "cose", animate: false, nodeRepulsion: function () { return 14000; },
              idealEdgeLength: function () { return busy ? 80 : 110; }, nodeOverlap: 12,
              padding: 30, randomize: false, componentSpacing: 80, gravity: 0.6 }
  });
  window.cy = cy;
  box.setAttribute("data-nodes", String(cy.nodes().length));
  box.setAttribute("data-ready", "1");

  function show(node) {
    var d = node.data();
    var html = '<div class="small faint">' + esc(d.type) + '</div><h3>' + esc(d.label) + '</h3>';
    var id = idOf(d.id);
    if (d.type === "artifact") {
      html += '<p class="small muted">' + [d.kind, d.task].filter(Boolean).map(esc).join(" · ") +
              (d.times_matched != null ? '<br>' + esc(d.times_matched) + ' times matched' : '') + '</p>' +
              '<p><a href="/a/' + pathOf(id) + '">Open artifact page →</a></p>';
    } else if (d.type === "query") {
      html += '<p><a href="/?q=' + encodeURIComponent(d.label) + '">Search this again →</a></p>';
    } else if (d.type === "capability") {
      var art = id.split("#")[0];
      html += '<p class="small muted">of <a href="/a/' + pathOf(art) + '">' + esc(art) + '</a></p>';
    }
    var edges = node.connectedEdges().filter(function (e) { return e.data("relation") !== "capability_of"; });
    if (edges.length) {
      var m = 0, s = 0;
      edges.forEach(function (e) { m += e.data("matches") || 0; s += e.data("selects") || 0; });
      html += '<p class="small muted">' + edges.length + ' match edge' + (edges.length === 1 ? '' : 's') +
              ': ' + m + ' matches, ' + s + ' selects</p>';
    }
    html += '<p><a href="/graph?ego=' + encodeURIComponent(d.id) + '">Centre the graph here</a></p>';
    info.innerHTML = html;
  }
  cy.on("tap", "node", function (evt) {
    var node = evt.target;
    cy.elements().addClass("faded").removeClass("near");
    node.closedNeighborhood().removeClass("faded");
    node.closedNeighborhood().nodes().addClass("near");
    show(node);
  });
  cy.on("tap", function (evt) { if (evt.target === cy) { cy.elements().removeClass("faded near"); } });
  cy.on("mouseover", "node", function (evt) { evt.target.addClass("hover"); box.style.cursor = "pointer"; });
  cy.on("mouseout", "node", function (evt) { evt.target.removeClass("hover"); box.style.cursor = ""; });
  cy.on("dbltap", "node", function (evt) { window.location = "/graph?ego=" + encodeURIComponent(evt.target.id()); });
})();
