/* report.html's script (dlhw.reports.html inlines it): sort and filter the runs table, draw the
   curves, each run's curves and the parallel coordinates as SVG from the JSON in #dlhw-data.
   Everything it reads is in the page: no network, works from file://. Text from the data goes
   in through textContent only. */
(function () {
  "use strict";
  var doc = document;
  var SVGNS = "http://www.w3.org/2000/svg";
  var SPLITS = ["train", "val", "test"];
  var SHOWN = 10;
  var ORDINAL = 8;  // a parallel-coordinates axis of at most this many numbers spaces them evenly  // a sweep chart shows its best rows at first; the legend shows the others
  var DATA = JSON.parse(doc.getElementById("dlhw-data").textContent);
  // the colours of dlhw.reports.palette, as the overlay PNGs use them: a run's colour is its row's rank
  var PALETTE = DATA.palette.runs, SPLIT_COLOURS = DATA.palette.splits, OTHERS = DATA.palette.others;
  doc.documentElement.classList.add("js");

  function el(tag, attrs, text) {
    var e = doc.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svg(tag, attrs, text) {
    var e = doc.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function each(list, fn) { Array.prototype.forEach.call(list, fn); }
  function fmt(v) {
    if (v === null || v === undefined || !isFinite(v)) return "-";
    var a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
    return String(Number(v.toPrecision(4)));
  }
  function ticks(lo, hi, n) {
    if (hi <= lo) { hi = lo + 1; }
    var step = Math.pow(10, Math.floor(Math.log10((hi - lo) / n)));
    var err = (hi - lo) / n / step;
    step *= err >= 7.5 ? 10 : err >= 3.5 ? 5 : err >= 1.5 ? 2 : 1;
    var out = [];
    for (var t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toPrecision(12)));
    return out;
  }

  // ------------------------------------------------------------------------------- the table
  function setupTable() {
    var table = doc.getElementById("runs");
    if (!table) return;
    var tbody = table.tBodies[0];
    var rows = Array.prototype.slice.call(tbody.rows);
    rows.forEach(function (tr, i) { tr.setAttribute("data-i", i); });
    var heads = table.tHead.rows[0].cells;
    var collator = new Intl.Collator(undefined, {numeric: true, sensitivity: "base"});
    var state = {col: -1, dir: 1};
    function key(tr, col, numeric) {
      var c = tr.cells[col];
      if (numeric) {
        var v = c.getAttribute("data-v");
        return v === null ? null : parseFloat(v);
      }
      var s = (c.getAttribute("data-s") || c.textContent).trim();
      return s === "" ? null : s;
    }
    function sortBy(col) {
      var numeric = rows.some(function (tr) { return tr.cells[col].hasAttribute("data-v"); });
      state.dir = state.col === col ? -state.dir : (numeric ? -1 : 1);  // numbers: largest first
      state.col = col;
      var sorted = rows.slice().sort(function (a, b) {
        var va = key(a, col, numeric), vb = key(b, col, numeric);
        var ia = +a.getAttribute("data-i"), ib = +b.getAttribute("data-i");
        if (va === null || vb === null) return va === vb ? ia - ib : va === null ? 1 : -1;  // blanks last
        var c = numeric ? va - vb : collator.compare(va, vb);
        return c * state.dir || ia - ib;
      });
      sorted.forEach(function (tr) { tbody.appendChild(tr); });
      each(heads, function (th, i) {
        var arrow = th.querySelector(".arrow");
        if (arrow) arrow.textContent = i === col ? (state.dir > 0 ? " ▲" : " ▼") : "";
        th.setAttribute("aria-sort", i === col ? (state.dir > 0 ? "ascending" : "descending") : "none");
      });
    }
    each(heads, function (th, col) {
      var order = th.getAttribute("aria-sort");  // the order the page came in: a click reverses it
      if (order === "ascending" || order === "descending") { state.col = col; state.dir = order === "ascending" ? 1 : -1; }
      th.classList.add("sortable");
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortBy(col); });
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sortBy(col); });
    });
    var select = doc.getElementById("status-filter"), text = doc.getElementById("text-filter");
    var count = doc.getElementById("row-count");
    var statuses = [];
    rows.forEach(function (tr) {
      var s = tr.getAttribute("data-status");
      if (statuses.indexOf(s) < 0) statuses.push(s);
    });
    statuses.sort().forEach(function (s) { select.appendChild(el("option", {value: s}, s)); });
    function filter() {
      var want = select.value, q = text.value.trim().toLowerCase(), shown = 0;
      rows.forEach(function (tr) {
        var ok = (!want || tr.getAttribute("data-status") === want) &&
                 (!q || tr.textContent.toLowerCase().indexOf(q) >= 0);
        tr.classList.toggle("hidden", !ok);
        shown += ok;
      });
      count.textContent = shown + " of " + rows.length + " rows";
    }
    select.addEventListener("change", filter);
    text.addEventListener("input", filter);
    filter();
  }

  // ------------------------------------------------------------------------- a line chart
  /* lines: [{label, colour, x, y, s (the band's half-width: a 95% CI, or null), on}];
     opts: {xlabel, ylabel, marks: [[x, name]]} */
  function lineChart(host, lines, opts) {
    var W = 680, H = 300, L = 58, R = 16, T = 14, B = 38;
    host.textContent = "";
    var shown = lines.filter(function (ln) { return ln.on && ln.x.length; });
    if (!shown.length) {
      host.appendChild(el("p", {"class": "meta"}, lines.some(function (ln) { return ln.x.length; }) ?
        "Every run is hidden: click a legend entry." : "No run has this curve."));
      return;
    }
    var xs = [], ys = [];
    shown.forEach(function (ln) {
      ln.x.forEach(function (x, i) {
        var s = ln.s ? ln.s[i] : 0;
        xs.push(x); ys.push(ln.y[i] - s); ys.push(ln.y[i] + s);
      });
    });
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs);
    var y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
    if (x1 === x0) { x0 -= 1; x1 += 1; }
    if (y1 === y0) { var d = Math.abs(y0) * 0.05 || 0.05; y0 -= d; y1 += d; }
    var pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad;
    function px(x) { return L + (x - x0) / (x1 - x0) * (W - L - R); }
    function py(y) { return T + (1 - (y - y0) / (y1 - y0)) * (H - T - B); }
    var root = svg("svg", {viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img",
                           "aria-label": opts.ylabel + " by " + opts.xlabel});
    var grid = svg("g", {"class": "grid"}), axis = svg("g", {"class": "axis"});
    ticks(y0, y1, 5).forEach(function (t) {
      grid.appendChild(svg("line", {x1: L, x2: W - R, y1: py(t), y2: py(t)}));
      axis.appendChild(svg("text", {x: L - 6, y: py(t) + 4, "text-anchor": "end"}, fmt(t)));
    });
    var xt = ticks(x0, x1, 8), whole = xt.filter(function (t) { return t === Math.round(t); });  // epochs
    (whole.length >= 2 ? whole : xt).forEach(function (t) {
      grid.appendChild(svg("line", {x1: px(t), x2: px(t), y1: T, y2: H - B}));
      axis.appendChild(svg("text", {x: px(t), y: H - B + 15, "text-anchor": "middle"}, fmt(t)));
    });
    axis.appendChild(svg("path", {d: "M" + L + "," + T + "V" + (H - B) + "H" + (W - R), fill: "none"}));
    axis.appendChild(svg("text", {x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle"}, opts.xlabel));
    axis.appendChild(svg("text", {x: 12, y: (T + H - B) / 2, "text-anchor": "middle",
                                  transform: "rotate(-90 12 " + (T + H - B) / 2 + ")"}, opts.ylabel));
    root.appendChild(grid);
    root.appendChild(axis);
    (opts.marks || []).forEach(function (m) {
      if (m[0] === null || m[0] < x0 || m[0] > x1) return;
      root.appendChild(svg("line", {x1: px(m[0]), x2: px(m[0]), y1: T, y2: H - B, stroke: "#888",
                                    "stroke-dasharray": "4 3"}));
      root.appendChild(svg("text", {x: px(m[0]) + 3, y: T + 10, fill: "#666"}, m[1]));
    });
    shown.forEach(function (ln) {
      if (ln.s && ln.s.some(function (s) { return s > 0; })) {
        var up = ln.x.map(function (x, i) { return px(x) + "," + py(ln.y[i] + ln.s[i]); });
        var down = ln.x.map(function (x, i) { return px(x) + "," + py(ln.y[i] - ln.s[i]); }).reverse();
        root.appendChild(svg("polygon", {points: up.concat(down).join(" "), fill: ln.colour, opacity: 0.15}));
      }
      if (ln.x.length > 1) {
        var d = ln.x.map(function (x, i) { return (i ? "L" : "M") + px(x).toFixed(1) + "," + py(ln.y[i]).toFixed(1); });
        root.appendChild(svg("path", {d: d.join(""), fill: "none", stroke: ln.colour, "stroke-width": 1.8,
                                      "class": "line"}));
      }
      if (ln.x.length <= 30) {
        ln.x.forEach(function (x, i) {
          root.appendChild(svg("circle", {cx: px(x), cy: py(ln.y[i]), r: ln.x.length > 1 ? 2.2 : 4,
                                          fill: ln.colour}));
        });
      }
    });
    var dot = svg("circle", {r: 5, fill: "none", stroke: "#111", "stroke-width": 1.5, visibility: "hidden"});
    root.appendChild(dot);
    var tip = el("div", {"class": "tip"});
    host.appendChild(root);
    host.appendChild(tip);
    root.addEventListener("mousemove", function (e) {
      var ctm = root.getScreenCTM();
      if (!ctm) return;
      var p = root.createSVGPoint();
      p.x = e.clientX; p.y = e.clientY;
      p = p.matrixTransform(ctm.inverse());
      var best = null, bd = Infinity;
      shown.forEach(function (ln) {
        ln.x.forEach(function (x, i) {
          var dx = px(x) - p.x, dy = py(ln.y[i]) - p.y, dd = dx * dx + dy * dy;
          if (dd < bd) { bd = dd; best = {ln: ln, i: i}; }
        });
      });
      if (!best) return;
      var x = best.ln.x[best.i], y = best.ln.y[best.i];
      dot.setAttribute("cx", px(x)); dot.setAttribute("cy", py(y)); dot.setAttribute("visibility", "visible");
      tip.textContent = best.ln.label + " · " + opts.xlabel + " " + fmt(x) + ": " + fmt(y) +
        (best.ln.s && best.ln.s[best.i] ? " ± " + fmt(best.ln.s[best.i]) : "");
      tip.style.display = "block";
      var scale = root.getBoundingClientRect().width / W;
      tip.style.left = Math.min(px(x) * scale + 10, Math.max(0, root.getBoundingClientRect().width - 260)) + "px";
      tip.style.top = Math.max(0, py(y) * scale - 30) + "px";
    });
    root.addEventListener("mouseleave", function () {
      dot.setAttribute("visibility", "hidden");
      tip.style.display = "none";
    });
  }

  function legend(host, lines, redraw) {
    host.textContent = "";
    lines.forEach(function (ln) {
      var b = el("button", {type: "button", title: (ln.title || ln.label) + ": click to show or hide"});
      var sw = el("span", {"class": "sw"});
      sw.style.background = ln.colour;
      b.appendChild(sw);
      b.appendChild(doc.createTextNode(ln.label));
      b.classList.toggle("off", !ln.on);
      b.addEventListener("click", function () {
        ln.on = !ln.on;
        b.classList.toggle("off", !ln.on);
        redraw();
      });
      host.appendChild(b);
    });
  }

  // ------------------------------------------------------------------------ series from data
  function lastEpoch(run) {
    var last = 0;
    Object.keys(run.h).forEach(function (k) { last = Math.max(last, Math.max.apply(null, run.h[k][0])); });
    return last || 1;
  }
  function column(split, quantity) { return split === "train" ? quantity : split + "_" + quantity; }
  /* The mean over ``runs`` of a split's quantity by epoch, and the half-width of its 95%
     confidence interval (Student's t: t(0.975, n - 1) x sd / sqrt(n), the quantiles computed by
     scipy into DATA.t975, as curves.png's bands); a split with only a final value (test) is one
     point at the run's last epoch. */
  function tQuantile(df) { return DATA.t975[Math.min(df, DATA.t975.length) - 1]; }
  function series(runs, split, quantity) {
    var col = column(split, quantity), byX = {}, final = false;
    runs.forEach(function (run) {
      var h = run.h[col];
      if (h) {
        h[0].forEach(function (x, i) { (byX[x] = byX[x] || []).push(h[1][i]); });
      } else if (run.final[col] !== undefined) {
        final = true;
        var x = lastEpoch(run);
        (byX[x] = byX[x] || []).push(run.final[col]);
      }
    });
    var x = Object.keys(byX).map(Number).sort(function (a, b) { return a - b; });
    var y = [], s = [];
    x.forEach(function (k) {
      var v = byX[k], m = v.reduce(function (a, b) { return a + b; }, 0) / v.length;
      y.push(m);
      var n = v.length, sd = n > 1 ? Math.sqrt(v.reduce(function (a, b) { return a + (b - m) * (b - m); }, 0) / (n - 1)) : 0;
      s.push(n > 1 ? tQuantile(n - 1) * sd / Math.sqrt(n) : 0);
    });
    return {x: x, y: y, s: s, final: final};
  }
  /* [quantity, ...] and {quantity: [splits]} of some runs: history columns and final metrics. */
  function quantities(runs) {
    var found = {}, order = [];
    function add(col) {
      var split = "train", q = col;
      SPLITS.slice(1).forEach(function (sp) {
        if (col.indexOf(sp + "_") === 0) { split = sp; q = col.slice(sp.length + 1); }
      });
      if (!found[q]) { found[q] = []; order.push(q); }
      if (found[q].indexOf(split) < 0) found[q].push(split);
    }
    runs.forEach(function (run) { Object.keys(run.h).forEach(add); });
    runs.forEach(function (run) {
      Object.keys(run.final).forEach(function (col) {
        var q = col.slice(col.indexOf("_") + 1);
        if (found[q]) add(col);  // a final value joins a curve: test accuracy next to train and val accuracy
      });
    });
    order.sort(function (a, b) {
      var rank = function (q) { return q === "accuracy" ? 0 : q === "loss" ? 1 : q === "lr" ? 3 : 2; };
      return rank(a) - rank(b);
    });
    return {order: order, splits: found};
  }
  function splitOf(metric) {
    for (var i = 1; i < SPLITS.length; i++) if (metric.indexOf(SPLITS[i] + "_") === 0) return SPLITS[i];
    return "train";
  }
  function quantityOf(metric) {
    var sp = splitOf(metric);
    return sp === "train" && metric.indexOf("train_") !== 0 ? metric : metric.slice(metric.indexOf("_") + 1);
  }

  /* A chart with a quantity menu, train / val / test buttons and a clickable legend. */
  function switchable(host, runs, makeLines, start) {
    var q = quantities(runs);
    if (!q.order.length) {
      host.appendChild(el("p", {"class": "meta"}, "No run has a history yet."));
      return;
    }
    var state = {quantity: q.order.indexOf(start.quantity) >= 0 ? start.quantity : q.order[0], split: start.split};
    var bar = el("div", {"class": "controls"}), menu = el("select", {"aria-label": "quantity"});
    q.order.forEach(function (name) { menu.appendChild(el("option", {value: name}, name)); });
    menu.value = state.quantity;
    bar.appendChild(menu);
    var buttons = {};
    if (start.split !== null) {
      SPLITS.forEach(function (sp) {
        var b = el("button", {type: "button", "data-split": sp}, sp);
        b.addEventListener("click", function () { state.split = sp; update(); });
        buttons[sp] = b;
        bar.appendChild(b);
      });
    }
    var plot = el("div", {"class": "ichart"}), keys = el("div", {"class": "legend"});
    host.appendChild(bar);
    host.appendChild(plot);
    host.appendChild(keys);
    var lines = null;
    function redraw() {
      lineChart(plot, lines, {xlabel: "epoch", ylabel: state.split ? state.split + " " + state.quantity : state.quantity,
                              marks: start.marks});
    }
    function update() {
      var have = q.splits[state.quantity];
      if (state.split !== null && have.indexOf(state.split) < 0) state.split = have.indexOf("val") >= 0 ? "val" : have[0];
      Object.keys(buttons).forEach(function (sp) {
        buttons[sp].disabled = have.indexOf(sp) < 0;
        buttons[sp].setAttribute("aria-pressed", sp === state.split ? "true" : "false");
        buttons[sp].style.fontWeight = sp === state.split ? "700" : "400";
      });
      var on = lines ? lines.map(function (ln) { return ln.on; }) : null;
      lines = makeLines(state.quantity, state.split);
      if (on) lines.forEach(function (ln, i) { ln.on = on[i]; });
      legend(keys, lines, redraw);
      redraw();
    }
    menu.addEventListener("change", function () { state.quantity = menu.value; update(); });
    update();
  }

  function runsOf(row) { return row.runs.map(function (i) { return DATA.runs[i]; }); }

  function sweepCurves(host) {
    var group = DATA.groups[+host.getAttribute("data-group")];
    var rows = group.rows.map(function (i) { return DATA.rows[i]; });
    var all = [];
    rows.forEach(function (row) { all = all.concat(runsOf(row)); });
    switchable(host, all, function (quantity, split) {
      return rows.map(function (row, rank) {
        var s = series(runsOf(row), split, quantity);
        return {label: row.label + (row.runs.length > 1 ? " (mean of " + row.runs.length + ", 95% CI band)" : ""),
                title: row.name + ", " + row.status, colour: PALETTE[rank % PALETTE.length], x: s.x, y: s.y,
                s: s.s, on: rank < SHOWN};
      });
    }, {quantity: quantityOf(DATA.metric), split: splitOf(DATA.metric) === "train" ? "val" : splitOf(DATA.metric),
        marks: []});
  }

  function runCurves(host) {
    var run = DATA.runs[+host.getAttribute("data-run")];
    var label = host.querySelector("p");
    switchable(host, [run], function (quantity) {
      return SPLITS.map(function (sp) {
        var s = series([run], sp, quantity);
        return {label: sp + (s.final ? " (final)" : ""), colour: SPLIT_COLOURS[sp], x: s.x, y: s.y, s: null, on: true};
      });
    }, {quantity: quantityOf(DATA.metric), split: null, marks: run.stages});
    if (label) host.appendChild(label);  // the link to curves.png stays, below the chart
  }

  // -------------------------------------------------------------------- parallel coordinates
  function colourOf(t) {  // 0 (worst) .. 1 (best): viridis' ends and middle
    var stops = [[68, 1, 84], [33, 145, 140], [253, 231, 37]];
    var seg = t < 0.5 ? 0 : 1, f = t < 0.5 ? t * 2 : (t - 0.5) * 2;
    var c = stops[seg].map(function (a, i) { return Math.round(a + (stops[seg + 1][i] - a) * f); });
    return "rgb(" + c.join(",") + ")";
  }
  function parallel(host) {
    var group = DATA.groups[+host.getAttribute("data-group")];
    var rows = group.rows.map(function (i) { return DATA.rows[i]; });
    var axes = group.keys.map(function (k) {
      return {name: group.labels[k] || k, title: k, value: function (row) { var v = row.varied[k]; return v === undefined ? null : v; }};
    });
    axes.push({name: DATA.metric, title: DATA.metric, value: function (row) { return row.metric; }, metric: true});
    var W = Math.max(560, 150 * axes.length), H = 340, T = 28, B = 30, L = 60, R = 60;
    axes.forEach(function (ax, i) {
      ax.x = L + i * (W - L - R) / (axes.length - 1);
      var vals = rows.map(ax.value).filter(function (v) { return v !== null; });
      ax.numeric = vals.length > 0 && vals.every(function (v) { return typeof v === "number"; });
      var distinct = vals.filter(function (v, i) { return vals.indexOf(v) === i; });
      if (ax.numeric && !ax.metric && distinct.length <= ORDINAL) {  // a grid's few values: evenly spaced, in order
        ax.numeric = false;
        vals = distinct.sort(function (a, b) { return a - b; });
      }
      if (ax.numeric) {
        var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals);
        ax.log = !ax.metric && lo > 0 && hi / lo >= 100;
        var f = ax.log ? Math.log10 : function (v) { return v; };
        var a = f(lo), b = f(hi);
        if (a === b) { a -= 1; b += 1; }
        ax.y = function (v) { return T + (1 - (f(v) - a) / (b - a)) * (H - T - B); };
        ax.ticks = ax.log ? ticks(a, b, 4).map(function (t) { return Math.pow(10, t); }) : ticks(a, b, 5);
        ax.ticks = ax.ticks.filter(function (t) { return f(t) >= a - 1e-9 && f(t) <= b + 1e-9; });
      } else {
        var cats = [];
        vals.forEach(function (v) { if (cats.indexOf(String(v)) < 0) cats.push(String(v)); });
        ax.label = function (v) { var n = Number(v); return typeof v === "number" || (v !== "" && isFinite(n) && String(n) === v) ? fmt(n) : v; };
        ax.y = function (v) {
          var i = cats.indexOf(String(v));
          return cats.length < 2 ? (T + H - B) / 2 : T + (1 - i / (cats.length - 1)) * (H - T - B);
        };
        ax.ticks = cats;
      }
    });
    var metricAxis = axes[axes.length - 1];
    var ms = rows.map(function (r) { return r.metric; }).filter(function (v) { return v !== null; });
    var mlo = Math.min.apply(null, ms), mhi = Math.max.apply(null, ms);
    host.textContent = "";
    var root = svg("svg", {viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img",
                           "aria-label": "parallel coordinates of " + group.title});
    var lines = svg("g", {}), tip = el("div", {"class": "tip"});
    rows.forEach(function (row) {
      var pts = axes.map(function (ax) {
        var v = ax.value(row);
        return v === null ? null : [ax.x, ax.y(v)];
      });
      var d = "", pen = false;
      pts.forEach(function (p) {
        if (!p) { pen = false; return; }
        d += (pen ? "L" : "M") + p[0].toFixed(1) + "," + p[1].toFixed(1);
        pen = true;
      });
      if (!d) return;
      var t = row.metric === null ? null : mhi > mlo ? (row.metric - mlo) / (mhi - mlo) : 1;
      if (t !== null && !DATA.higher) t = 1 - t;
      var path = svg("path", {d: d, fill: "none", stroke: t === null ? OTHERS : colourOf(t),
                              "stroke-width": row.best ? 3.5 : 2, opacity: 0.85, "class": "pline"});
      if (t === null) path.setAttribute("stroke-dasharray", "4 3");
      path.style.cursor = "pointer";
      path.addEventListener("mouseenter", function (e) {
        path.setAttribute("stroke-width", 5);
        tip.textContent = row.name + ": " + axes.map(function (ax) {
          var v = ax.value(row);
          return ax.name + " " + (typeof v === "number" ? fmt(v) : v === null ? "-" : v);
        }).join(", ");
        tip.style.display = "block";
        var box = host.getBoundingClientRect();
        tip.style.left = Math.max(0, Math.min(e.clientX - box.left + 10, box.width - 320)) + "px";
        tip.style.top = Math.max(0, e.clientY - box.top - 34) + "px";
      });
      path.addEventListener("mouseleave", function () {
        path.setAttribute("stroke-width", row.best ? 3.5 : 2);
        tip.style.display = "none";
      });
      path.addEventListener("click", function () { openDetail(DATA.runs[row.runs[0]].detail, true); });
      lines.appendChild(path);
    });
    root.appendChild(lines);
    axes.forEach(function (ax) {
      var g = svg("g", {"class": "axis"});
      g.appendChild(svg("line", {x1: ax.x, x2: ax.x, y1: T, y2: H - B, stroke: "#555"}));
      var head = svg("text", {x: ax.x, y: T - 12, "text-anchor": "middle", "font-weight": "600"}, ax.name);
      head.appendChild(svg("title", {}, ax.title));
      g.appendChild(head);
      ax.ticks.forEach(function (t) {
        var y = ax.y(t);
        g.appendChild(svg("line", {x1: ax.x - 4, x2: ax.x, y1: y, y2: y, stroke: "#555"}));
        var label = typeof t === "number" ? fmt(t) : ax.label(t);
        if (label.length > 14) label = label.slice(0, 13) + "…";
        g.appendChild(svg("text", {x: ax.x - 6, y: y + 4, "text-anchor": "end", "paint-order": "stroke",
                                   stroke: "#fff", "stroke-width": 3}, label));
      });
      root.appendChild(g);
    });
    root.appendChild(svg("text", {x: metricAxis.x, y: H - 8, "text-anchor": "middle", fill: "#666"},
                         DATA.higher ? "higher is better" : "lower is better"));
    var box = el("div", {"class": "ichart"});
    box.appendChild(root);
    box.appendChild(tip);
    host.appendChild(box);
  }

  // ------------------------------------------------------------------------ run details
  function drawDetail(details) {
    var host = details.querySelector(".runchart");
    if (host && !host.getAttribute("data-drawn")) {
      host.setAttribute("data-drawn", "1");
      runCurves(host);
    }
  }
  function openDetail(id, scroll) {
    var target = id ? doc.getElementById(id) : null;
    if (!target || target.tagName !== "DETAILS") return;
    target.open = true;
    drawDetail(target);
    if (scroll) {
      if (location.hash !== "#" + id) location.hash = id;
      target.scrollIntoView();
    }
  }

  setupTable();
  var png = doc.getElementById("show-png");
  if (png) {
    png.addEventListener("click", function () {
      each(doc.querySelectorAll(".charts.static"), function (e) { e.classList.toggle("shown"); });
    });
  }
  each(doc.querySelectorAll(".curves[data-group]"), sweepCurves);
  each(doc.querySelectorAll(".pcoords[data-group]"), parallel);
  each(doc.querySelectorAll("details.run"), function (d) {
    d.addEventListener("toggle", function () { if (d.open) drawDetail(d); });
  });
  window.addEventListener("hashchange", function () { openDetail(location.hash.slice(1), false); });
  openDetail(location.hash.slice(1), false);
})();
