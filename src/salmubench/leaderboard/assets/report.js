/* SALMUBench report: renders the embedded leaderboard JSON as a sortable table and inline SVG plots.
   No network, no libraries. With location.hash == "#selftest" it checks itself and writes the result
   as JSON into a pre element with id "selftest" (used by tests/leaderboard/test_report_browser.py). */
(function () {
  "use strict";
  var LB = JSON.parse(document.getElementById("leaderboard-data").textContent);
  var SVGNS = "http://www.w3.org/2000/svg";
  var REF = { compromised: "#c0392b", clean: "#27ae60" };
  // no reds or greens: those mark Compromised and Clean
  var PALETTE = ["#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
                 "#393b79", "#8c6d31", "#7b4173", "#6baed6", "#fdae6b", "#bcbddc", "#c49c94", "#f7b6d2"];

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function fmt(x, nd) { return (x === null || x === undefined) ? "-" : Number(x).toFixed(nd === undefined ? 4 : nd); }
  function isRef(row) { return row.role === "compromised" || row.role === "clean"; }
  function colour(row, i) { return REF[row.role] || PALETTE[i % PALETTE.length]; }
  var rowColour = {};
  LB.rows.forEach(function (r, i) { rowColour[r.key] = colour(r, i); });

  /* ------------------------------------------------------------------ meta, findings, notes */
  function renderMeta() {
    var p = LB.protocol, d = LB.dataset;
    document.getElementById("meta").textContent =
      "Protocol " + p.name + " " + p.version + " (" + p.hash + "), dataset " + d.fingerprint.slice(0, 12) +
      (d.preset ? " (preset " + d.preset + ")" : "") + ", GenKnow source: " + LB.gen_know_source.join(", ") +
      ", " + LB.n_files + " result files, salmubench " + LB.salmubench_version + ".";
    (LB.unmeasured || []).forEach(function (t) {  // what this board could not measure (GenKnow, MIA)
      document.querySelector("header").appendChild(el("p", { "class": "unmeasured" }, t));
    });
    var ul = document.getElementById("findings");
    LB.findings.forEach(function (f) {
      var none = f.holds === null;  // unmeasured (GenKnow not measured)
      ul.appendChild(el("li", { "class": none ? "unmeasured" : (f.holds ? "ok" : "ko") },
                        (none ? "[unmeasured] " : "") + f.claim + ": " + f.detail));
    });
    var notes = document.getElementById("notes");
    (LB.notes.length ? LB.notes : ["none"]).forEach(function (n) { notes.appendChild(el("li", {}, n)); });
  }

  /* ------------------------------------------------------------------ sortable table */
  var COLUMNS = [
    { id: "rank", label: "Rank", num: true, get: function (r) { return r.rank === null ? Infinity : r.rank; },
      show: function (r) { return r.rank === null ? "ref" : String(r.rank); } },
    { id: "name", label: "Model", num: false, get: function (r) { return r.name; },
      show: function (r) { return r.name + (r.seeds.length > 1 ? " (n=" + r.seeds.length + ")" : ""); } }
  ];
  LB.metrics.forEach(function (m) {
    COLUMNS.push({ id: m.key, label: m.display + (m.pillar === "efficacy" ? " ↘" : " ="), num: true,
      title: m.pillar + " metric, target: " + m.target,
      get: function (r) { return r.values[m.key]; },
      show: function (r) { return m.key === "gen_know" && LB.gen_know_measured === false ? "n/m" : fmt(r.values[m.key]); },
      ci: function (r) { var c = r.ci[m.key]; if (!c || (m.key === "gen_know" && LB.gen_know_measured === false)) return "";
        return "±" + fmt(Math.max(r.values[m.key] - c.lo, c.hi - r.values[m.key])); } });
  });
  function scoreColumn(id, label, get, title) {
    return { id: id, label: label, num: true, title: title || "", get: get, show: function (r) { return fmt(get(r), 3); } };
  }
  COLUMNS.push(scoreColumn("score_efficacy", "Eff.", function (r) { return r.scores.efficacy; }));
  COLUMNS.push(scoreColumn("score_utility", "Util.", function (r) { return r.scores.utility; }));
  if (LB.attacks) COLUMNS.push(scoreColumn("robustness", "Rob.", function (r) { return r.robustness; },
    "Robustness pillar: 1 - mean attack position (docs/leaderboard.md)"));
  COLUMNS.push(scoreColumn("score_combined", "Score", function (r) { return r.scores.combined; }));
  if (LB.attacks) {
    COLUMNS.push(scoreColumn("score_robust", "Rob. score", function (r) { return r.scores.robust; },
      "harmonic mean of efficacy, utility and robustness"));
    COLUMNS.push({ id: "robust_rank", label: "Rob. rank", num: true,
      get: function (r) { return r.robust_rank === null || r.robust_rank === undefined ? Infinity : r.robust_rank; },
      show: function (r) { return r.robust_rank ? String(r.robust_rank) : (r.rank === null ? "ref" : "-"); } });
  }
  COLUMNS.push({ id: "tags", label: "Tags", num: false, get: function (r) { return r.tags.join(","); }, tags: true });
  COLUMNS.push({ id: "cost", label: "Cost (s)", num: true,
    get: function (r) { var c = isRef(r) ? r.cost.train_seconds : r.cost.unlearn_seconds; return c === null ? Infinity : c; },
    show: function (r) { var c = isRef(r) ? r.cost.train_seconds : r.cost.unlearn_seconds; return c === null ? "-" : c.toFixed(1); } });

  var sortState = { id: null, dir: 0 };

  function renderTable() {
    var thead = document.querySelector("#board thead"), tbody = document.querySelector("#board tbody");
    var tr = el("tr");
    COLUMNS.forEach(function (c) {
      var th = el("th", { "data-col": c.id, "class": c.num ? "" : "txt", title: c.title || "" }, c.label);
      th.addEventListener("click", function () { sortBy(c.id); });
      tr.appendChild(th);
    });
    thead.appendChild(tr);
    LB.rows.forEach(function (r, idx) {
      var row = el("tr", { "data-key": r.key, "data-index": String(idx), "class": isRef(r) ? "ref" : "" });
      COLUMNS.forEach(function (c) {
        var td = el("td", { "data-col": c.id, "class": c.num ? "" : "txt" });
        var v = c.get(r);
        td.setAttribute("data-sort", typeof v === "number" ? (isFinite(v) ? String(v) : "Infinity") : v);
        if (c.tags) {
          r.tags.forEach(function (t) { td.appendChild(el("span", { "class": "tag" }, t)); });
          (r.tags_unmeasured || []).forEach(function (t) {
            td.appendChild(el("span", { "class": "tag unmeasured", title: "not measured on this run" }, t + " n/m"));
          });
          if (!r.tags.length && !(r.tags_unmeasured || []).length) td.textContent = "-";
        } else {
          td.appendChild(document.createTextNode(c.show(r)));
          var ci = c.ci ? c.ci(r) : "";
          if (ci) { td.appendChild(document.createTextNode(" ")); td.appendChild(el("span", { "class": "ci" }, ci)); }
        }
        row.appendChild(td);
      });
      tbody.appendChild(row);
    });
  }

  function sortBy(id) {
    var col = COLUMNS.filter(function (c) { return c.id === id; })[0];
    // first click: numbers descending except rank and cost (ascending), text ascending; then toggle
    var first = (col.num && id !== "rank" && id !== "cost" && id !== "robust_rank") ? -1 : 1;
    var dir = sortState.id === id ? -sortState.dir : first;
    sortState = { id: id, dir: dir };
    var tbody = document.querySelector("#board tbody");
    var rows = Array.prototype.slice.call(tbody.rows);
    rows.sort(function (a, b) {
      var x = a.querySelector('td[data-col="' + id + '"]').getAttribute("data-sort");
      var y = b.querySelector('td[data-col="' + id + '"]').getAttribute("data-sort");
      var cmp = col.num ? (parseFloat(x) - parseFloat(y)) : x.localeCompare(y);
      if (isNaN(cmp)) cmp = 0;
      return dir * cmp || (parseInt(a.getAttribute("data-index"), 10) - parseInt(b.getAttribute("data-index"), 10));
    });
    rows.forEach(function (r) { tbody.appendChild(r); });
    document.querySelectorAll("#board th").forEach(function (th) {
      th.classList.remove("sorted-asc", "sorted-desc");
      if (th.getAttribute("data-col") === id) th.classList.add(dir > 0 ? "sorted-asc" : "sorted-desc");
    });
  }

  /* ------------------------------------------------------------------ plots */
  function axes(g, W, H, m, xlab, ylab, xr, yr, noXTicks) {
    var sx = function (v) { return m.l + (v - xr[0]) / (xr[1] - xr[0]) * (W - m.l - m.r); };
    var sy = function (v) { return H - m.b - (v - yr[0]) / (yr[1] - yr[0]) * (H - m.t - m.b); };
    g.appendChild(svg("line", { x1: m.l, y1: H - m.b, x2: W - m.r, y2: H - m.b, stroke: "#333" }));
    g.appendChild(svg("line", { x1: m.l, y1: m.t, x2: m.l, y2: H - m.b, stroke: "#333" }));
    for (var i = 0; i <= 4; i++) {
      var xv = xr[0] + i * (xr[1] - xr[0]) / 4, yv = yr[0] + i * (yr[1] - yr[0]) / 4;
      if (!noXTicks) g.appendChild(svg("text", { x: sx(xv), y: H - m.b + 14, "text-anchor": "middle" }, fmt(xv, 2)));
      g.appendChild(svg("text", { x: m.l - 5, y: sy(yv) + 4, "text-anchor": "end" }, fmt(yv, 2)));
    }
    g.appendChild(svg("text", { x: (W + m.l - m.r) / 2, y: H - 4, "text-anchor": "middle" }, xlab));
    g.appendChild(svg("text", { x: 12, y: (H - m.b + m.t) / 2, transform: "rotate(-90 12 " + ((H - m.b + m.t) / 2) + ")",
      "text-anchor": "middle" }, ylab));
    return { sx: sx, sy: sy };
  }

  function renderTradeoff() {
    var W = 640, H = 420, m = { l: 50, r: 20, t: 15, b: 40 };
    var root = svg("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, id: "tradeoff-svg" });
    var placed = [];
    var s = axes(root, W, H, m, "utility score (→ Compromised)", "efficacy score (→ Clean)", [0, 1.05], [0, 1.05]);
    LB.rows.forEach(function (r) {
      var x = s.sx(r.scores.utility), y = s.sy(r.scores.efficacy);
      var shape = isRef(r)
        ? svg("rect", { x: x - 6, y: y - 6, width: 12, height: 12, fill: rowColour[r.key], "class": "pt ref-pt",
                        "data-key": r.key })
        : svg("circle", { cx: x, cy: y, r: 5, fill: rowColour[r.key], "class": "pt", "data-key": r.key,
                          stroke: r.tags.length ? "#000" : "none" });
      shape.appendChild(svg("title", {}, r.name + ": efficacy " + fmt(r.scores.efficacy, 3) + ", utility " +
        fmt(r.scores.utility, 3) + (r.tags.length ? " [" + r.tags.join(", ") + "]" : "")));
      root.appendChild(shape);
      var ly = y - 6;  // nudge labels down until they do not overlap an earlier one
      for (var k = 0; k < 20 && placed.some(function (p) { return Math.abs(p[0] - x) < 90 && Math.abs(p[1] - ly) < 11; }); k++) ly += 11;
      placed.push([x, ly]);
      var right = x > W - 160;  // near the right edge: label to the left of the point
      root.appendChild(svg("text", { x: right ? x - 8 : x + 8, y: ly, "text-anchor": right ? "end" : "start",
                                     "class": "pt-label" }, r.name));
    });
    document.getElementById("tradeoff").appendChild(root);
  }

  function legend(rows) {
    var div = el("div", { "class": "legend" });
    rows.forEach(function (r) {
      var span = el("span");
      var sw = el("span", { "class": "swatch" });
      sw.style.background = rowColour[r.key];
      span.appendChild(sw);
      span.appendChild(document.createTextNode(r.name));
      div.appendChild(span);
    });
    return div;
  }

  function renderAttributes() {
    var host = document.getElementById("attrs");
    var metrics = {};
    LB.rows.forEach(function (r) { Object.keys(r.per_attribute || {}).forEach(function (k) { metrics[k] = 1; }); });
    var keys = Object.keys(metrics).sort();
    if (!keys.length) { host.appendChild(el("p", { "class": "hint" }, "No per-attribute values in the result files.")); return; }
    keys.forEach(function (mk) {
      var rows = LB.rows.filter(function (r) { return r.per_attribute && r.per_attribute[mk]; });
      var attrs = {};
      rows.forEach(function (r) { Object.keys(r.per_attribute[mk]).forEach(function (a) { attrs[a] = 1; }); });
      var alist = Object.keys(attrs).sort();
      var vals = [];
      rows.forEach(function (r) { alist.forEach(function (a) { var v = r.per_attribute[mk][a]; if (v !== undefined) vals.push(v); }); });
      var lo = Math.min(0, Math.min.apply(null, vals)), hi = Math.max(1e-6, Math.max.apply(null, vals));
      var W = Math.max(480, alist.length * (rows.length * 10 + 24) + 80), H = 300, m = { l: 50, r: 10, t: 25, b: 40 };
      var root = svg("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, "class": "attr-svg", "data-metric": mk });
      var disp = (LB.metrics.filter(function (x) { return x.key === mk; })[0] || { display: mk }).display;
      root.appendChild(svg("text", { x: m.l, y: 14 }, disp + " per attribute type"));
      var s = axes(root, W, H, m, "", disp, [0, alist.length], [lo, hi], true);
      var gw = (W - m.l - m.r) / alist.length, bw = Math.max(2, (gw - 12) / rows.length);
      alist.forEach(function (a, ai) {
        root.appendChild(svg("text", { x: m.l + ai * gw + gw / 2, y: H - m.b + 16, "text-anchor": "middle" }, a));
        rows.forEach(function (r, ri) {
          var v = r.per_attribute[mk][a];
          if (v === undefined) return;
          var y0 = s.sy(0), y1 = s.sy(v);
          var bar = svg("rect", { x: m.l + ai * gw + 6 + ri * bw, y: Math.min(y0, y1), width: bw - 1,
            height: Math.max(0.5, Math.abs(y0 - y1)), fill: rowColour[r.key], "class": "bar" });
          bar.appendChild(svg("title", {}, r.name + " · " + a + ": " + fmt(v)));
          root.appendChild(bar);
        });
      });
      var box = el("div");
      box.appendChild(root);
      box.appendChild(legend(rows));
      host.appendChild(box);
    });
  }

  function stepPath(h, s) {
    var d = "", e = h.edges;
    h.density.forEach(function (p, i) {
      d += (i === 0 ? "M" + s.sx(e[0]) + "," + s.sy(0) : "") + "L" + s.sx(e[i]) + "," + s.sy(p) +
           "L" + s.sx(e[i + 1]) + "," + s.sy(p);
    });
    return d + "L" + s.sx(e[e.length - 1]) + "," + s.sy(0);
  }

  function renderHistograms() {
    var host = document.getElementById("hists");
    var clean = LB.rows.filter(function (r) { return r.role === "clean"; })[0];
    var comp = LB.rows.filter(function (r) { return r.role === "compromised"; })[0];
    var methods = LB.rows.filter(function (r) { return !isRef(r) && r.hist; });
    if (!methods.length) { host.appendChild(el("p", { "class": "hint" }, "No per-row forget similarities in the result files.")); return; }
    var ymax = 0;
    LB.rows.forEach(function (r) { if (r.hist) ymax = Math.max(ymax, Math.max.apply(null, r.hist.density)); });
    methods.forEach(function (r) {
      var e = r.hist.edges, W = 320, H = 200, m = { l: 45, r: 10, t: 20, b: 32 };
      var root = svg("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, "class": "hist-svg", "data-key": r.key });
      root.appendChild(svg("text", { x: m.l, y: 13 }, r.name));
      var s = axes(root, W, H, m, "cos(image, caption)", "fraction", [e[0], e[e.length - 1]], [0, ymax * 1.05]);
      if (clean && clean.hist) root.appendChild(svg("path", { d: stepPath(clean.hist, s) + "Z", fill: "#bbb", "fill-opacity": 0.6, stroke: "none", "class": "hist-clean" }));
      if (comp && comp.hist) root.appendChild(svg("path", { d: stepPath(comp.hist, s), fill: "none", stroke: REF.compromised, "stroke-dasharray": "4 3", "class": "hist-comp" }));
      root.appendChild(svg("path", { d: stepPath(r.hist, s), fill: "none", stroke: "#1f4fd1", "stroke-width": 1.8, "class": "hist-method" }));
      host.appendChild(root);
    });
  }

  /* ------------------------------------------------------------------ agreement with the paper */
  function renderAgreement() {
    var ag = LB.agreement, body = document.querySelector("#agreement tbody");
    if (!ag || !ag.baselines.length) {
      document.getElementById("agreement-count").textContent = "No paper baseline on this board.";
      return;
    }
    var head = el("tr");
    ["paper baseline", "row", "RetFail pos.", "InterIdSim pos.", "IntraIdSim pos.", "GenKnow drop", "our tags",
     "paper tags", "agree"].forEach(function (h, i) { head.appendChild(el("th", { "class": i < 2 || i > 5 ? "txt" : "" }, h)); });
    document.querySelector("#agreement thead").appendChild(head);
    function pair(e, key, pct) {
      var one = function (x) {
        if (x === null || x === undefined) return "n/m";
        return pct ? (x >= 0 ? "+" : "") + (100 * x).toFixed(1) + "%" : x.toFixed(2);
      };
      return one(e.ours.profile[key]) + " / " + (e.paper.profile ? one(e.paper.profile[key]) : "-");
    }
    ag.baselines.forEach(function (e) {
      var tr = el("tr", { "class": e.agree ? "agree" : "disagree" });
      [e.paper_name, e.row, pair(e, "pos_ret_fail"), pair(e, "pos_inter_id_sim"), pair(e, "pos_intra_id_sim"),
       pair(e, "gen_know_drop", true), e.ours.tags.join(", ") || "none", e.paper.tags.join(", ") || "none",
       (e.agree ? "yes" : "no") + (e.unmeasured || []).map(function (t) { return " (" + t + " n/m)"; }).join("")].forEach(function (v, i) { tr.appendChild(el("td", { "class": i < 2 || i > 5 ? "txt" : "" }, v)); });
      body.appendChild(tr);
    });
    document.getElementById("agreement-count").textContent = "In the paper's mode: " +
      Object.keys(ag.count).map(function (b) { return b + ": " + ag.count[b].agree + " of " + ag.count[b].of; }).join(", ") + ".";
  }

  /* ------------------------------------------------------------------ tuning Pareto fronts */
  var SEL_COLOUR = { "structured": "#1f77b4", "forget-retain": "#ff7f0e" };
  function renderPareto() {
    var host = document.getElementById("pareto");
    var sets = LB.pareto || [];
    if (!sets.length) { host.appendChild(el("p", { "class": "hint" }, "No tuning Pareto data for the recipes of this board.")); return; }
    sets.forEach(function (set) {
      Object.keys(set.methods).sort().forEach(function (method) {
        var entry = set.methods[method], W = 260, H = 220, m = { l: 40, r: 10, t: 20, b: 34 };
        var root = svg("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, "class": "pareto-svg",
                                "data-method": method, "data-budget": String(set.budget) });
        root.appendChild(svg("text", { x: m.l, y: 13 }, method + " @" + set.budget + "x"));
        var s = axes(root, W, H, m, "utility score", "efficacy", [0, 1.05], [0, 1.05]);
        var comp = svg("rect", { x: s.sx(1) - 5, y: s.sy(0) - 5, width: 10, height: 10, fill: REF.compromised, "class": "ref-pt" });
        comp.appendChild(svg("title", {}, "Compromised"));
        root.appendChild(comp);
        Object.keys(entry.selections).forEach(function (sel) {
          var d = entry.selections[sel], col = SEL_COLOUR[sel] || "#555";
          var clean = set.references.clean[sel];
          if (clean) {
            var cr = svg("rect", { x: s.sx(clean.utility) - 5, y: s.sy(clean.efficacy) - 5, width: 10, height: 10,
                                   fill: REF.clean, "class": "ref-pt" });
            cr.appendChild(svg("title", {}, "Clean (" + sel + ")"));
            root.appendChild(cr);
          }
          var front = d.front.slice().sort(function (a, b) { return d.points[a][1] - d.points[b][1]; });
          if (front.length > 1) {
            root.appendChild(svg("polyline", { points: front.map(function (k) { return s.sx(d.points[k][1]) + "," + s.sy(d.points[k][0]); }).join(" "),
                                               fill: "none", stroke: col, "stroke-width": 1.2, "class": "front" }));
          }
          d.points.forEach(function (p, k) {
            var chosen = k === d.chosen;
            var c = svg("circle", { cx: s.sx(p[1]), cy: s.sy(p[0]), r: chosen ? 6 : 3, fill: chosen ? col : "none",
                                    stroke: col, "class": chosen ? "chosen" : "trial" });
            c.appendChild(svg("title", {}, sel + " " + JSON.stringify(entry.overrides[k]) + ": efficacy " + fmt(p[0], 3) +
                                           ", utility " + fmt(p[1], 3) + (chosen ? " (chosen)" : "")));
            root.appendChild(c);
          });
        });
        host.appendChild(root);
      });
    });
  }

  /* ------------------------------------------------------------------ recovery attacks */
  var ATTACK_COLOURS = { relearn: "#1f77b4", benign_finetune: "#ff7f0e", quantize: "#9467bd", paraphrase: "#17becf",
                         mia: "#8c564b" };
  function attackColour(name, i) { return ATTACK_COLOURS[name] || PALETTE[(i + 8) % PALETTE.length]; }
  function barValue(entry) {  // recovery (recovery attacks) or leak (mia); null when undefined
    if (!entry || !entry.available || !entry.headline) return null;
    var v = entry.kind === "measure" ? entry.headline.leak : entry.headline.recovery;
    return (v === null || v === undefined) ? null : v;
  }
  function positionAfter(entry) {
    if (!entry || !entry.available || !entry.headline || entry.kind === "measure") return null;
    var p = entry.headline.position;
    return (p === null || p === undefined) ? null : p;
  }
  function recoveryBarRows() { return LB.rows.filter(function (r) { return !isRef(r) && r.attacks; }); }

  function renderRecovery() {
    var host = document.getElementById("recovery"), list = document.getElementById("attack-findings");
    if (!LB.attacks) {
      host.appendChild(el("p", { "class": "hint" }, "No attack.json files among the results: run salmubench run " +
        "(attacks are on by default) or salmubench attack."));
      return;
    }
    (LB.attack_findings || []).forEach(function (f) {
      list.appendChild(el("li", { "class": f.holds === true ? "ok" : (f.holds === false ? "ko" : "") }, f.text));
    });
    var names = LB.attacks.names, rows = recoveryBarRows();
    if (!rows.length) { host.appendChild(el("p", { "class": "hint" }, "No method has attack results.")); return; }
    var vals = [0, 1];
    rows.forEach(function (r) { names.forEach(function (n) {
      [barValue(r.attacks[n]), positionAfter(r.attacks[n])].forEach(function (v) { if (v !== null) vals.push(v); });
    }); });
    var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals);
    var gw0 = names.length * 14 + 24;
    var W = Math.max(520, rows.length * gw0 + 80), H = 340, m = { l: 50, r: 10, t: 25, b: 90 };
    var root = svg("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, "class": "rec-svg", id: "recovery-svg" });
    root.appendChild(svg("text", { x: m.l, y: 14 }, "Recovery per method and attack (bars; MIA: leak), position after the attack (ticks)"));
    var s = axes(root, W, H, m, "", "recovery / leak / position", [0, rows.length], [lo, hi], true);
    root.appendChild(svg("line", { x1: m.l, x2: W - m.r, y1: s.sy(0), y2: s.sy(0), stroke: "#333" }));
    root.appendChild(svg("line", { x1: m.l, x2: W - m.r, y1: s.sy(LB.attacks.shallow_position), y2: s.sy(LB.attacks.shallow_position),
      stroke: "#c0392b", "stroke-dasharray": "5 4", "class": "rec-threshold" }));
    var gw = (W - m.l - m.r) / rows.length, bw = Math.max(3, (gw - 12) / names.length);
    rows.forEach(function (r, ri) {
      var x0 = m.l + ri * gw;
      var lx = x0 + gw / 2, ly = H - m.b + 12;
      root.appendChild(svg("text", { x: lx, y: ly, "text-anchor": "end", transform: "rotate(-35 " + lx + " " + ly + ")",
                                     "class": "rec-label" }, r.name));
      names.forEach(function (n, ni) {
        var e = r.attacks[n], v = barValue(e), p = positionAfter(e), bx = x0 + 6 + ni * bw;
        if (v !== null) {
          var y0 = s.sy(0), y1 = s.sy(v);
          var bar = svg("rect", { x: bx, y: Math.min(y0, y1), width: bw - 1, height: Math.max(0.5, Math.abs(y0 - y1)),
                                  fill: attackColour(n, ni), "class": "rec-bar", "data-key": r.key, "data-attack": n });
          var h = e.headline, hv = e.values[h.key];
          bar.appendChild(svg("title", {}, r.name + " · " + n + (e.kind === "measure"
            ? ": leak " + fmt(h.leak, 3) + " (" + h.key + " " + fmt(hv.after) + ")"
            : ": recovery " + fmt(h.recovery, 3) + ", position " + fmt(hv.position_before, 3) + " → " +
              fmt(h.position, 3) + " (" + h.key + " " + fmt(hv.before) + " → " + fmt(hv.after) + ")")));
          root.appendChild(bar);
        }
        if (p !== null) {
          root.appendChild(svg("line", { x1: bx - 1, x2: bx + bw, y1: s.sy(p), y2: s.sy(p), stroke: "#000",
                                         "stroke-width": 2, "class": "rec-pos" }));
        }
      });
    });
    host.appendChild(root);
    var legendDiv = el("div", { "class": "legend" });
    names.forEach(function (n, ni) {
      var span = el("span"), sw = el("span", { "class": "swatch" });
      sw.style.background = attackColour(n, ni);
      span.appendChild(sw);
      span.appendChild(document.createTextNode(n + (LB.attacks.unavailable[n] ? " (not available: " + LB.attacks.unavailable[n] + ")" : "")));
      legendDiv.appendChild(span);
    });
    host.appendChild(legendDiv);
  }


  /* ------------------------------------------------------------------ sequential unlearning (only with sequential.json) */
  function seqGroups(split) { return split.groups; }
  function defined(list) { return list.filter(function (v) { return v !== null && v !== undefined; }); }
  function renderSequential() {
    var SEQ = LB.sequential;
    if (!SEQ) return;
    var anchor = document.getElementById("notes").parentNode;
    var section = el("section", { id: "sequential" });
    section.appendChild(el("h2", {}, "Sequential unlearning: deletion requests over time"));
    section.appendChild(el("p", { "class": "hint" }, "The forget set arrives as K requests; each run starts from the " +
      "previous output and sees only its request's rows (docs/sequential.md). RetFail, AssocStr, CoreAssoc: on the rows " +
      "requested so far, target Clean on the same rows; PendingSim: AssocStr on the rows not requested yet, target " +
      "Compromised on the same rows; the others on the full splits. Green dashed: Clean, red dashed: Compromised, on " +
      "the same rows at each request. Table: value after the last request (drift vs the one-shot run) and the worst request."));
    SEQ.splits.forEach(function (split, si) {
      section.appendChild(el("h3", {}, split.k + " " + split.unit + " requests (request seed " + split.seed +
        "; rows per request: " + split.rows.join(", ") + ")"));
      var table = el("table", { "class": "seq-table" }), head = el("tr");
      ["Model"].concat(SEQ.metrics.map(function (m) { return m.display; }), ["passes ×", "seconds ×"]).forEach(function (h, i) {
        head.appendChild(el("th", { "class": i === 0 ? "txt" : "" }, h));
      });
      var thead = el("thead"); thead.appendChild(head); table.appendChild(thead);
      var tbody = el("tbody");
      seqGroups(split).forEach(function (g) {
        var tr = el("tr", { "class": "seq-row", "data-name": g.name });
        tr.appendChild(el("td", { "class": "txt" }, g.name + (g.seeds.length > 1 ? " (n=" + g.seeds.length + ")" : "")));
        SEQ.metrics.forEach(function (m) {
          var w = g.worst[m.key], last = g.last[m.key], d = g.drift[m.key];
          var parts = [];
          if (last !== null) parts.push(fmt(last) + (d === null ? "" : " (Δ " + (d >= 0 ? "+" : "") + fmt(d) + ")"));
          if (w) parts.push("worst " + fmt(w.value) + " @" + w.step);
          var text = parts.join(" · ") || "-";
          tr.appendChild(el("td", {}, text));
        });
        tr.appendChild(el("td", {}, fmt(g.cost.passes_ratio, 2)));
        tr.appendChild(el("td", {}, fmt(g.cost.seconds_ratio, 2)));
        tbody.appendChild(tr);
      });
      table.appendChild(tbody);
      var scroll = el("div", { "class": "scroll" }); scroll.appendChild(table); section.appendChild(scroll);
      var plots = el("div", { "class": "plots" });
      SEQ.metrics.forEach(function (m) { plots.appendChild(seqChart(split, si, m)); });
      section.appendChild(plots);
      var legendDiv = el("div", { "class": "legend" });
      seqGroups(split).forEach(function (g, gi) {
        var span = el("span"), sw = el("span", { "class": "swatch" });
        sw.style.background = PALETTE[gi % PALETTE.length];
        span.appendChild(sw); span.appendChild(document.createTextNode(g.name)); legendDiv.appendChild(span);
      });
      [["Clean", REF.clean], ["Compromised", REF.compromised]].forEach(function (p) {
        var span = el("span"), sw = el("span", { "class": "swatch" });
        sw.style.background = p[1]; span.appendChild(sw); span.appendChild(document.createTextNode(p[0] + " (dashed)"));
        legendDiv.appendChild(span);
      });
      section.appendChild(legendDiv);
    });
    anchor.parentNode.insertBefore(section, anchor);
  }

  function seqChart(split, si, m) {
    var K = split.k, W = 300, H = 210, mg = { l: 48, r: 10, t: 22, b: 34 };
    var vals = [];
    split.groups.forEach(function (g) { vals = vals.concat(defined(g.curves[m.key])); });
    ["clean", "compromised"].forEach(function (r) { vals = vals.concat(defined(split.references[r][m.key])); });
    if (!vals.length) vals = [0, 1];
    var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals);
    if (hi - lo < 1e-6) { lo -= 0.5; hi += 0.5; }
    var pad = 0.05 * (hi - lo);
    var root = svg("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, "class": "seq-svg",
                            "data-metric": m.key, "data-split": String(si) });
    root.appendChild(svg("text", { x: mg.l, y: 14 }, m.display + " (" + m.rows + " rows, → " + m.target + ")"));
    var xr = K > 1 ? [1, K] : [0.5, 1.5];
    var s = axes(root, W, H, mg, "request", m.display, xr, [lo - pad, hi + pad], true);
    for (var k = 1; k <= K; k++) root.appendChild(svg("text", { x: s.sx(k), y: H - mg.b + 14, "text-anchor": "middle" }, String(k)));
    function line(series, attrs, title) {
      var pts = [];
      series.forEach(function (v, i) { if (v !== null && v !== undefined) pts.push(s.sx(i + 1) + "," + s.sy(v)); });
      var node = svg("polyline", Object.assign({ points: pts.join(" "), fill: "none" }, attrs));
      node.appendChild(svg("title", {}, title + ": " + series.map(function (v) { return fmt(v); }).join(", ")));
      root.appendChild(node);
      series.forEach(function (v, i) {
        if (v === null || v === undefined) return;
        root.appendChild(svg("circle", { cx: s.sx(i + 1), cy: s.sy(v), r: attrs["class"].indexOf("seq-ref") >= 0 ? 1.5 : 2.5,
                                         fill: attrs.stroke, "class": "seq-pt" }));
      });
    }
    [["clean", REF.clean, "seq-ref seq-ref-clean", "Clean"], ["compromised", REF.compromised, "seq-ref seq-ref-comp", "Compromised"]].forEach(function (r) {
      var series = split.references[r[0]][m.key];
      if (defined(series).length) line(series, { stroke: r[1], "stroke-dasharray": "5 3", "stroke-width": 1.2, "class": r[2] }, r[3]);
    });
    split.groups.forEach(function (g, gi) {
      if (defined(g.curves[m.key]).length) {
        line(g.curves[m.key], { stroke: PALETTE[gi % PALETTE.length], "stroke-width": 1.8, "class": "seq-line",
                                "data-name": g.name }, g.name);
      }
    });
    return root;
  }

  /* ------------------------------------------------------------------ self-test */
  function columnValues(id) {
    return Array.prototype.map.call(document.querySelectorAll('#board tbody td[data-col="' + id + '"]'),
      function (td) { return td.getAttribute("data-sort"); });
  }
  function isSorted(vals, dir, num) {
    for (var i = 1; i < vals.length; i++) {
      var a = num ? parseFloat(vals[i - 1]) : vals[i - 1], b = num ? parseFloat(vals[i]) : vals[i];
      var c = num ? a - b : a.localeCompare(b);
      if (dir * c > 0) return false;
    }
    return true;
  }
  function selfTest() {
    var th = function (id) { return document.querySelector('#board th[data-col="' + id + '"]'); };
    var res = { rows: document.querySelectorAll("#board tbody tr").length, expectedRows: LB.rows.length,
                points: document.querySelectorAll("#tradeoff-svg .pt").length,
                bars: document.querySelectorAll(".attr-svg .bar").length,
                hists: document.querySelectorAll(".hist-svg .hist-method").length,
                agreementRows: document.querySelectorAll("#agreement tbody tr").length,
                expectedAgreementRows: LB.agreement ? LB.agreement.baselines.length : 0,
                paretoPlots: document.querySelectorAll(".pareto-svg").length,
                paretoChosen: document.querySelectorAll(".pareto-svg .chosen").length,
                recBars: document.querySelectorAll(".rec-svg .rec-bar").length, expectedRecBars: 0,
                attackFindings: document.querySelectorAll("#attack-findings li").length,
                seqCharts: document.querySelectorAll("#sequential .seq-svg").length, expectedSeqCharts: 0,
                seqLines: document.querySelectorAll("#sequential .seq-line").length, expectedSeqLines: 0,
                seqRefs: document.querySelectorAll("#sequential .seq-ref").length, expectedSeqRefs: 0,
                seqRows: document.querySelectorAll("#sequential .seq-row").length, expectedSeqRows: 0 };
    if (LB.sequential) LB.sequential.splits.forEach(function (split) {
      res.expectedSeqRows += split.groups.length;
      LB.sequential.metrics.forEach(function (m) {
        res.expectedSeqCharts++;
        split.groups.forEach(function (g) { if (defined(g.curves[m.key]).length) res.expectedSeqLines++; });
        ["clean", "compromised"].forEach(function (r) { if (defined(split.references[r][m.key]).length) res.expectedSeqRefs++; });
      });
    });
    if (LB.attacks) recoveryBarRows().forEach(function (r) {
      LB.attacks.names.forEach(function (n) { if (barValue(r.attacks[n]) !== null) res.expectedRecBars++; });
    });
    th("score_combined").click();
    res.scoreDesc = isSorted(columnValues("score_combined"), -1, true);
    th("score_combined").click();
    res.scoreAsc = isSorted(columnValues("score_combined"), 1, true);
    th("name").click();
    res.nameAsc = isSorted(columnValues("name"), 1, false);
    res.firstAfterNameSort = document.querySelector("#board tbody tr").getAttribute("data-key");
    th("ret_fail").click();
    res.retFailDesc = isSorted(columnValues("ret_fail"), -1, true);
    th("rank").click();
    res.errors = window.__errors.slice();
    if (LB.attacks) {
      th("score_robust").click();
      res.robustDesc = isSorted(columnValues("score_robust").filter(function (v) { return v !== "null"; }), -1, true);
      th("rank").click();
    }
    res.ok = res.rows === res.expectedRows && res.points === res.expectedRows && res.scoreDesc && res.scoreAsc &&
             res.agreementRows === res.expectedAgreementRows &&
             res.nameAsc && res.retFailDesc && res.recBars === res.expectedRecBars &&
             (!LB.attacks || (res.recBars > 0 && res.robustDesc && res.attackFindings === LB.attack_findings.length)) &&
             res.seqCharts === res.expectedSeqCharts && res.seqLines === res.expectedSeqLines &&
             res.seqRefs === res.expectedSeqRefs && res.seqRows === res.expectedSeqRows &&
             (!LB.sequential || res.seqCharts > 0) &&
             res.errors.length === 0;
    var pre = el("pre", { id: "selftest" }, JSON.stringify(res));
    document.body.appendChild(pre);
  }

  renderMeta();
  renderTable();
  renderTradeoff();
  renderAttributes();
  renderHistograms();
  renderRecovery();
  renderAgreement();
  renderPareto();
  renderSequential();
  if (location.hash === "#selftest") selfTest();
})();
