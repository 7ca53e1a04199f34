/* The match graph explorer: draws /graph's embedded JSON with the vendored Cytoscape.js and its fCoSE layout. */
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
  var n = data.nodes.length;
  // Every node kind is labelled, shortened (the full text shows on hover); the bigger the view,
  // the shorter the label. placeLabels below shows the labels that fit at the current zoom.
  var room = n > 400 ? 14 : (n > 120 ? 18 : 28);
  function shorten(text, max) { return text.length > max ? text.slice(0, max - 1) + "…" : text; }
  var elements = [];
  data.nodes.forEach(function (node) {
    var max = node.type === "artifact" ? room + 8 : room;
    elements.push({ group: "nodes", data: Object.assign({}, node, { short: shorten(node.label, max) }),
                    classes: node.type + (node.id === data.ego ? " ego" : "") });
  });
  data.edges.forEach(function (e, i) {
    elements.push({ group: "edges", data: Object.assign({ id: "e" + i }, e, { w: 1 + 4 * Math.sqrt((e.weight || 0) / maxW) }),
                    classes: e.relation || "" });
  });
  var scale = n > 400 ? 0.7 : (n > 120 ? 0.85 : 1);  // node sizes: smaller in a big view

  // The stylesheet at zoom z: labels keep one size on screen whatever the zoom (font-size / z);
  // which nodes show theirs (class lbl) is placeLabels' choice.
  function styles(z) {
    return [
      { selector: "node", style: { "label": "", "font-size": 10 / z, "color": "#39404f",
          "text-valign": "bottom", "text-margin-y": 3 / z, "text-wrap": "ellipsis", "text-max-width": 150 / z,
          "width": 16 * scale, "height": 16 * scale, "text-background-color": "#ffffff",
          "text-background-opacity": 0.7, "text-background-padding": 1 / z } },
      { selector: "node.artifact", style: { "background-color": "#4f46e5", "width": 28 * scale,
          "height": 28 * scale, "font-size": 12 / z, "text-max-width": 190 / z, "font-weight": 600, "color": "#1b2231",
          "z-index": 10 } },
      { selector: "node.capability", style: { "background-color": "#0e9f8e", "shape": "round-rectangle", "color": "#0b6b60" } },
      { selector: "node.query", style: { "background-color": "#d97706", "shape": "diamond", "color": "#8a4b05" } },
      { selector: "node.ego", style: { "border-width": 5, "border-color": "#c7c3ff", "width": 40, "height": 40 } },
      { selector: "node.lbl", style: { "label": "data(short)", "text-valign": "data(tv)", "text-halign": "data(th)",
          "text-margin-y": function (node) { var v = node.data("tv"); return v === "top" ? -3 / z : (v === "bottom" ? 3 / z : 0); },
          "text-margin-x": function (node) { var h = node.data("th"); return h === "right" ? 3 / z : (h === "left" ? -3 / z : 0); } } },
      { selector: "node.hover, node:selected", style: { "label": "data(label)", "text-wrap": "wrap", "text-valign": "bottom",
          "text-halign": "center", "text-margin-x": 0, "text-margin-y": 3 / z, "text-max-width": 280 / z,
          "text-background-opacity": 0.95, "z-index": 100, "font-size": 12 / z } },
      { selector: "node:selected", style: { "border-width": 4, "border-color": "#1b2231" } },
      { selector: "edge", style: { "width": "data(w)", "line-color": "#c9cede", "curve-style": n > 400 ? "haystack" : "bezier",
          "opacity": 0.85, "target-arrow-shape": n > 400 ? "none" : "triangle", "target-arrow-color": "#c9cede", "arrow-scale": 0.7 } },
      { selector: "edge.capability_of", style: { "line-style": "dashed", "width": 1.2, "line-color": "#9ad8cf", "target-arrow-color": "#9ad8cf" } },
      { selector: "edge.matched_capability", style: { "line-color": "#f3c98b", "target-arrow-color": "#f3c98b" } },
      { selector: ".faded", style: { "opacity": 0.12 } }
    ];
  }

  var cy = cytoscape({
    container: box,
    elements: elements,
    wheelSensitivity: 0.25,
    minZoom: 0.02,
    maxZoom: 4,
    textureOnViewport: n > 400,
    hideEdgesOnViewport: n > 800,
    style: styles(1)
  });

  // fCoSE (vendored from npm, as Cytoscape is) separates clusters; the plain CoSE is the fallback.
  var fcose = typeof cytoscapeFcose !== "undefined";
  var layout = fcose ? {
    name: "fcose", quality: n > 1500 ? "draft" : "default", randomize: true, animate: false, fit: false,
    nodeSeparation: 60, idealEdgeLength: function (e) { return e.hasClass("capability_of") ? 40 : 70; },
    nodeRepulsion: function () { return 9000; }, edgeElasticity: function () { return 0.45; },
    gravity: 0.3, gravityRange: 3.0, numIter: 2500, tile: true, tilingPaddingVertical: 16, tilingPaddingHorizontal: 16,
    packComponents: true
  } : { name: "cose", animate: false, fit: false, nodeRepulsion: function () { return 14000; }, componentSpacing: 60 };
  cy.layout(layout).run();
  pack();
  fill();
  // Labels that fit: in order of importance (the centre, artifacts, then the nodes on the heaviest
  // edges), a label is shown when its box on screen overlaps no label already shown. So every
  // zoom level reads cleanly, and zooming in shows more; hover shows any node's full label.
  var strength = {};
  data.edges.forEach(function (e) {
    strength[e.source] = (strength[e.source] || 0) + (e.weight || 0);
    strength[e.target] = (strength[e.target] || 0) + (e.weight || 0);
  });
  var order = cy.nodes().sort(function (x, y) {
    var rank = function (node) { return (node.hasClass("ego") ? 2e9 : 0) + (node.hasClass("artifact") ? 1e9 : 0) + (strength[node.id()] || 0); };
    return rank(y) - rank(x);
  });
  // A label's width on screen, measured once in the font Cytoscape draws it with (labels keep
  // their size on screen, so it never changes); 2px for the background's padding.
  var measure = document.createElement("canvas").getContext("2d"), widths = {};
  function labelWidth(node) {
    var id = node.id();
    if (widths[id] === undefined) {
      var artifact = node.hasClass("artifact");
      measure.font = (artifact ? "600 12px " : "normal 10px ") + node.style("font-family");
      widths[id] = Math.min(measure.measureText(node.data("short")).width, artifact ? 190 : 150) + 4;
    }
    return widths[id];
  }
  var styledAt = null, timer = null;
  function placeLabels() {
    var z = cy.zoom();
    if (styledAt === null || Math.abs(z - styledAt) / styledAt > 0.03) {
      styledAt = z;
      cy.style().fromJson(styles(z)).update();
    }
    var width = box.clientWidth, height = box.clientHeight, cell = 60, grid = {}, shown = 0, placed = {};
    function overlaps(b) {
      for (var gx = Math.floor(b.x1 / cell); gx <= Math.floor(b.x2 / cell); gx++) {
        for (var gy = Math.floor(b.y1 / cell); gy <= Math.floor(b.y2 / cell); gy++) {
          var list = grid[gx + ":" + gy] || [];
          for (var i = 0; i < list.length; i++) {
            var o = list[i];
            if (b.x1 < o.x2 && b.x2 > o.x1 && b.y1 < o.y2 && b.y2 > o.y1) { return true; }
          }
        }
      }
      return false;
    }
    function add(b) {
      for (var gx = Math.floor(b.x1 / cell); gx <= Math.floor(b.x2 / cell); gx++) {
        for (var gy = Math.floor(b.y1 / cell); gy <= Math.floor(b.y2 / cell); gy++) {
          (grid[gx + ":" + gy] = grid[gx + ":" + gy] || []).push(b);
        }
      }
    }
    function disc(node) {
      var p = node.renderedPosition(), r = node.renderedWidth() / 2;
      return { x1: p.x - r, x2: p.x + r, y1: p.y - r, y2: p.y + r };
    }
    // labels keep clear of every artifact, and of each other node more important than theirs
    cy.nodes(".artifact").forEach(function (node) { add(disc(node)); });
    cy.batch(function () {
      order.forEach(function (node) {
        var p = node.renderedPosition(), artifact = node.hasClass("artifact");
        var w = labelWidth(node), h = (artifact ? 12 : 10) * 1.4 + 2;
        var r = node.renderedHeight() / 2 + 2, chosen = null;
        // below the node, else above, right or left of it: the first place that is free
        var places = [["bottom", "center", { x1: p.x - w / 2, x2: p.x + w / 2, y1: p.y + r, y2: p.y + r + h }],
                      ["top", "center", { x1: p.x - w / 2, x2: p.x + w / 2, y1: p.y - r - h, y2: p.y - r }],
                      ["center", "right", { x1: p.x + r + 1, x2: p.x + r + 1 + w, y1: p.y - h / 2, y2: p.y + h / 2 }],
                      ["center", "left", { x1: p.x - r - 1 - w, x2: p.x - r - 1, y1: p.y - h / 2, y2: p.y + h / 2 }]];
        for (var i = 0; i < places.length && !chosen; i++) {
          var b = places[i][2];
          if (b.x1 >= 0 && b.x2 <= width && b.y1 >= 0 && b.y2 <= height && !overlaps(b)) { chosen = places[i]; }
        }
        if (!artifact) { add(disc(node)); }
        if (chosen) {
          add(chosen[2]);
          placed[node.id()] = chosen[2];
          shown++;
          if (node.data("tv") !== chosen[0] || node.data("th") !== chosen[1]) { node.data({ tv: chosen[0], th: chosen[1] }); }
        }
        node.toggleClass("lbl", !!chosen);
      });
    });
    box.setAttribute("data-labels", String(shown));
    window.graphLabels = placed;  // the box on screen each shown label was given (tests read it)
  }
  placeLabels();
  cy.on("viewport", function () { clearTimeout(timer); timer = setTimeout(placeLabels, 90); });
  window.cy = cy;
  box.setAttribute("data-nodes", String(cy.nodes().length));
  box.setAttribute("data-layout", layout.name);
  box.setAttribute("data-ready", "1");

  // Disconnected parts drift apart in a force layout, squeezing the big one into a corner: lay the
  // parts out in rows instead, biggest first, in a strip about as wide as the canvas is.
  function pack() {
    var parts = cy.elements().components();
    if (parts.length < 2) { return; }
    var gap = 40, boxes = parts.map(function (part) {
      return { part: part, bb: part.nodes().boundingBox({ includeLabels: false }) };
    }).sort(function (x, y) { return y.bb.w * y.bb.h - x.bb.w * x.bb.h; });
    var area = 0;
    boxes.forEach(function (b) { area += (b.bb.w + gap) * (b.bb.h + gap); });
    var aspect = box.clientWidth / Math.max(1, box.clientHeight);
    var rowWidth = Math.max(boxes[0].bb.w + gap, Math.sqrt(area * aspect));
    var x = 0, y = 0, rowHeight = 0;
    boxes.forEach(function (b) {
      if (x > 0 && x + b.bb.w > rowWidth) { x = 0; y += rowHeight + gap; rowHeight = 0; }
      var dx = x - b.bb.x1, dy = y - b.bb.y1;
      b.part.nodes().positions(function (node) { var p = node.position(); return { x: p.x + dx, y: p.y + dy }; });
      x += b.bb.w + gap;
      rowHeight = Math.max(rowHeight, b.bb.h);
    });
  }

  // A force layout comes out round; the canvas is wide. Stretch the drawing to the canvas's shape
  // (at most 2.2x either way) so it fills the canvas rather than a square in its middle.
  function fill() {
    var bb = cy.nodes().boundingBox({ includeLabels: false });
    if (bb.w > 0 && bb.h > 0 && cy.nodes().length > 2) {
      var want = box.clientWidth / Math.max(1, box.clientHeight);
      var stretch = Math.max(1 / 2.2, Math.min(2.2, want / (bb.w / bb.h)));
      var cx = bb.x1 + bb.w / 2, cyy = bb.y1 + bb.h / 2;
      cy.nodes().positions(function (node) {
        var p = node.position();
        return stretch >= 1 ? { x: cx + (p.x - cx) * stretch, y: p.y } : { x: p.x, y: cyy + (p.y - cyy) / stretch };
      });
    }
    // fit the nodes, not their labels (which keep their size on screen): room for labels at the edges
    var nb = cy.nodes().boundingBox({ includeLabels: false });
    var padX = 70, padY = 36, w = box.clientWidth - 2 * padX, h = box.clientHeight - 2 * padY;
    var z = Math.min(2.2, w / Math.max(1, nb.w), h / Math.max(1, nb.h));
    cy.viewport({ zoom: z, pan: { x: padX + (w - nb.w * z) / 2 - nb.x1 * z, y: padY + (h - nb.h * z) / 2 - nb.y1 * z } });
  }

  function full(evt) { box.title = evt.target.data("label"); }
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
  cy.on("mouseover", "node", function (evt) { evt.target.addClass("hover"); box.style.cursor = "pointer"; full(evt); });
  cy.on("mouseout", "node", function (evt) { evt.target.removeClass("hover"); box.style.cursor = ""; box.title = ""; });
  cy.on("dbltap", "node", function (evt) { window.location = "/graph?ego=" + encodeURIComponent(evt.target.id()); });
})();
