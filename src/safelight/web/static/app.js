/* Safelight: the one script of our own. No inline scripts or handlers anywhere: the page
   data this script needs is in <script type="application/json"> blocks and data- attributes,
   and every text it puts on the page goes through textContent, never innerHTML. */
(function () {
  "use strict";

  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }

  function jsonData(id) {
    var el = document.getElementById(id);
    if (!el) return null;
    try { return JSON.parse(el.textContent); } catch (e) { return null; }
  }

  function textEl(tag, text, cls) {
    var el = document.createElement(tag);
    el.textContent = text == null ? "" : String(text);
    if (cls) el.className = cls;
    return el;
  }

  function link(href, text) {
    var a = textEl("a", text);
    a.setAttribute("href", href);
    return a;
  }

  // htmx requests carry the CSRF token as a header as well as in the form.
  document.addEventListener("htmx:configRequest", function (ev) {
    ev.detail.headers["X-CSRF-Token"] = csrf();
  });

  // ---- ad page: marks in the text and the side list point at each other ----------------------
  function initAnnotations() {
    var text = document.getElementById("ad-text");
    if (!text) return;
    function focus(ids) {
      document.querySelectorAll(".focus").forEach(function (el) { el.classList.remove("focus"); });
      ids.forEach(function (n) {
        var li = document.getElementById("ann-" + n);
        if (li) li.classList.add("focus");
        text.querySelectorAll("mark.ann").forEach(function (m) {
          if ((m.dataset.ann || "").split(" ").indexOf(String(n)) >= 0) m.classList.add("focus");
        });
      });
    }
    text.addEventListener("click", function (ev) {
      var mark = ev.target.closest("mark.ann");
      if (!mark) return;
      var ids = (mark.dataset.ann || "").split(" ");
      focus(ids);
      var first = document.getElementById("ann-" + ids[0]);
      if (first) first.scrollIntoView({ block: "nearest" });
    });
    document.querySelectorAll("ol.side > li").forEach(function (li) {
      li.addEventListener("mouseenter", function () { focus([li.id.replace("ann-", "")]); });
    });
  }

  // ---- photos: unblurring is a recorded act ---------------------------------------------------
  function initReveal() {
    document.querySelectorAll("[data-reveal]").forEach(function (btn) {
      btn.addEventListener("click", function () {
        var body = new FormData();
        body.append("ad_id", btn.dataset.ad);
        body.append("n", btn.dataset.n);
        body.append("csrf", csrf());
        fetch("/photos/reveal", { method: "POST", body: body, credentials: "same-origin",
                                  headers: { "X-CSRF-Token": csrf() } })
          .then(function (r) {
            if (!r.ok) throw new Error("not recorded");
            var img = btn.parentNode.querySelector("img.blurred");
            if (img) img.classList.remove("blurred");
            btn.remove();
          })
          .catch(function () { btn.textContent = "Could not record the view: still blurred"; });
      });
    });
  }

  // ---- maps: state/province outlines shipped with the app, no tile server -------------------
  var regions = null;
  function loadRegions() {
    if (!regions) {
      regions = fetch("/static/vendor/geo/regions.geojson", { credentials: "same-origin" })
        .then(function (r) { return r.json(); });
    }
    return regions;
  }

  function initMaps() {
    document.querySelectorAll("[data-map]").forEach(function (el) {
      var data = jsonData(el.dataset.map);
      if (!data) return;
      if (!window.L) { el.textContent = "The map could not load."; return; }
      var map = L.map(el, { zoomSnap: 0.25, minZoom: 2, maxZoom: 10 });
      map.attributionControl.setPrefix(false);
      map.attributionControl.addAttribution("Outlines: U.S. Census Bureau, Natural Earth");
      var overlay = L.layerGroup().addTo(map);
      var pts = (data.points || []).filter(function (p) { return p.latlon; });
      if (data.path && data.path.length > 1) {
        L.polyline(data.path, { color: "#a41e22", weight: 2, dashArray: "6 4", opacity: 0.8 }).addTo(overlay);
      }
      var bounds = [];
      pts.forEach(function (p) {
        var r = 4 + Math.min(14, Math.sqrt(p.count) * 2);
        var m = L.circleMarker(p.latlon, { radius: r, color: "#1f5fa8", weight: 1.5, fillOpacity: 0.55 });
        var tip = textEl("span", p.place + ": " + p.count + " ads, " + (p.first || "?").slice(0, 10) +
                         " to " + (p.last || "?").slice(0, 10), "map-label");
        m.bindTooltip(tip);
        m.addTo(overlay);
        bounds.push(p.latlon);
      });
      if (bounds.length) map.fitBounds(bounds, { padding: [30, 30], maxZoom: 7 });
      else map.setView([42, -98], 3);
      loadRegions().then(function (geo) {
        L.geoJSON(geo, { interactive: false,
                         style: { color: "#7d8b99", weight: 0.8, fillColor: "#f4f1ea", fillOpacity: 1 } })
          .addTo(map).bringToBack();
        el.dataset.ready = "1";
      }).catch(function () { el.dataset.ready = "no-outlines"; });
    });
  }

  // ---- network graph -------------------------------------------------------------------------
  var KIND_COLOURS = { phone: "#3d9a5a", email: "#318aa3", handle: "#7a56c2", payment: "#b0529a",
                       photo: "#c27a1f", template: "#888888" };

  function showInfo(panel, data, isEdge) {
    panel.replaceChildren();
    if (isEdge) {
      panel.appendChild(textEl("h3", "Why this edge"));
      panel.appendChild(textEl("p", data.reason));
      return;
    }
    panel.appendChild(textEl("h3", data.type === "ad" ? "Ad" : data.type));
    panel.appendChild(textEl("p", data.title || data.ref));
    var href = data.type === "ad" ? "/ads/" + encodeURIComponent(data.ref)
      : "/entities/" + encodeURIComponent(data.type) + "/" +
        encodeURIComponent(String(data.ref).slice(String(data.type).length + 1));
    panel.appendChild(link(href, data.type === "ad" ? "Open the ad" : "Open this " + data.type));
    if (data.hub) panel.appendChild(textEl("p", "Hub: shared by many unrelated groups, not used to merge.", "muted"));
  }

  function initGraphs() {
    document.querySelectorAll("[data-graph]").forEach(function (el) {
      var data = jsonData(el.dataset.graph);
      if (!data) return;
      if (!window.cytoscape) { el.textContent = "The graph could not load."; return; }
      var panel = document.getElementById("edge-info");
      var cy = cytoscape({
        container: el,
        elements: data.elements,
        style: [
          { selector: "node", style: { "label": "data(label)", "font-size": 7, "text-valign": "bottom",
                                       "text-margin-y": 2, "width": 14, "height": 14, "color": "#333",
                                       "min-zoomed-font-size": 9 } },
          { selector: 'node[type = "ad"]', style: { "shape": "round-rectangle", "background-color": "#1f5fa8",
                                                     "width": 16, "height": 12 } },
          { selector: 'node[type != "ad"]', style: { "width": 20, "height": 20, "font-size": 8,
                                                      "min-zoomed-font-size": 6, "background-color": function (n) {
              return KIND_COLOURS[n.data("type")] || "#666"; } } },
          { selector: "node[?hub]", style: { "border-width": 2, "border-style": "dashed", "border-color": "#444",
                                              "background-color": "#bbbbbb" } },
          { selector: "edge", style: { "width": 1, "curve-style": "bezier", "opacity": 0.7,
                                       "line-color": function (e) { return KIND_COLOURS[e.data("kind")] || "#999"; } } },
          { selector: 'edge[kind = "template"]', style: { "line-style": "dashed" } },
          { selector: "edge:selected", style: { "label": "data(label)", "font-size": 8, "width": 3, "opacity": 1,
                                                "text-rotation": "autorotate", "text-background-color": "#fff",
                                                "text-background-opacity": 0.9 } },
          { selector: "node:selected", style: { "label": "data(label)", "min-zoomed-font-size": 0,
                                                "border-width": 3, "border-color": "#d33" } }
        ],
        layout: { name: "cose", animate: false, randomize: false, nodeRepulsion: 9000, idealEdgeLength: 50,
                  numIter: 800, padding: 20 }
      });
      if (panel) {
        cy.on("tap", "edge", function (ev) { showInfo(panel, ev.target.data(), true); });
        cy.on("tap", "node", function (ev) { showInfo(panel, ev.target.data(), false); });
      }
      el.dataset.ready = "1";
      window.safelightGraph = cy;
    });
  }

  function init() {
    initAnnotations();
    initReveal();
    initMaps();
    initGraphs();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
