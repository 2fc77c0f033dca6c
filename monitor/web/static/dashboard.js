// One dashboard: panels drawn with uPlot from the same-origin Graphite render API, with
// deploy markers from Graphite events or deploys.* metrics laid over every time panel.
// Everything from files or metrics is put on the page as text (textContent), never HTML.
"use strict";
(function () {
  const app = document.getElementById("app");
  const id = app.dataset.dashboard;
  const PALETTE = ["#1f78c1", "#e24d42", "#7eb26d", "#eab839", "#6ed0e0", "#ef843c",
                   "#705da0", "#508642", "#cca300", "#447ebc"];
  const PRESETS = [["-15min", "15 minutes"], ["-1h", "1 hour"], ["-3h", "3 hours"],
                   ["-6h", "6 hours"], ["-12h", "12 hours"], ["-24h", "24 hours"],
                   ["-7d", "7 days"], ["-30d", "30 days"]];
  const params = new URLSearchParams(location.search);
  let spec = null;
  let version = null;
  let refreshTimer = null;
  const plots = [];

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  function setParam(key, value, push) {
    if (value === null || value === undefined || value === "") params.delete(key);
    else params.set(key, value);
    history[push ? "pushState" : "replaceState"](null, "", "?" + params.toString());
  }

  let zooming = false;

  function zoomTo(min, max) {
    // A drag-selection becomes the dashboard's range; the browser's Back undoes it.
    // Synced plots all report the same selection in one tick: apply it once.
    if (zooming) return;
    zooming = true;
    setTimeout(() => { zooming = false; }, 0);
    setParam("from", String(Math.floor(min)));
    setParam("until", String(Math.ceil(max)), true);
    draw();
  }

  window.addEventListener("popstate", () => {
    for (const key of Array.from(params.keys())) params.delete(key);
    for (const [key, value] of new URLSearchParams(location.search)) params.set(key, value);
    draw();
  });

  function csvUrl(targets) {
    const {from, until} = range();
    const query = new URLSearchParams({from, until, format: "csv"});
    for (const t of targets) query.append("target", t);
    return "/render?" + query.toString();
  }

  function range() {
    const time = spec.time || {};
    return {from: params.get("from") || time.from || "-6h",
            until: params.get("until") || time.until || "now"};
  }

  // The end of the range in epoch seconds ("now" or an absolute time; 0 for other
  // forms, which leave the axis ending at the last point).
  function untilEpoch() {
    const {until} = range();
    if (until === "now") return Date.now() / 1000;
    return /^\d+$/.test(until) ? Number(until) : 0;
  }

  // "All values": a glob star in a path, a regex in a tag expression (tag=~$name).
  function allValue(v) {
    return v.tag ? ".*" : "*";
  }

  // The values picked for a variable (several when it is multi), from the URL.
  function chosen(v) {
    const raw = params.get("var-" + v.name) || v.default || (v.values ? v.values[0] : allValue(v));
    return raw.split(",").filter(Boolean);
  }

  // What each $name becomes in targets: one value, all, or several as {a,b} (a|b for a tag).
  function variableValues() {
    const values = {};
    for (const v of spec.variables || []) {
      const picked = chosen(v);
      if (!picked.length || picked.includes(allValue(v))) values[v.name] = allValue(v);
      else if (picked.length === 1) values[v.name] = picked[0];
      else values[v.name] = v.tag ? picked.join("|") : "{" + picked.join(",") + "}";
    }
    return values;
  }

  function substitute(target, values) {
    return target.replace(/\$([A-Za-z_][A-Za-z0-9_]*)/g, (all, name) =>
      name in values ? values[name] : all);
  }

  function safeUrl(url) {
    return /^(https?:\/\/|\/)/.test(url) ? url : null;
  }

  async function render(targets, width) {
    const body = new URLSearchParams();
    const {from, until} = range();
    for (const t of targets) body.append("target", t);
    body.append("from", from);
    body.append("until", until);
    body.append("format", "json");
    body.append("maxDataPoints", String(Math.max(10, Math.round(width))));
    const response = await fetch("/render", {method: "POST", body});
    const answer = await response.json().catch(() => null);
    if (!response.ok) throw new Error((answer && answer.error) || response.statusText);
    return answer;
  }

  async function deployMarks() {
    const hidden = new Set((params.get("hide") || "").split(",").filter(Boolean));
    const {from, until} = range();
    const values = variableValues();
    const marks = [];
    for (const [index, source] of (spec.deploys || []).entries()) {
      if (source.enabled === false || hidden.has(source.name)) continue;
      const color = source.color || PALETTE[(index + 3) % PALETTE.length];
      try {
        if (source.events) {
          const query = new URLSearchParams({tags: source.events.join(" "), from, until});
          const events = await (await fetch("/events/get_data?" + query)).json();
          for (const e of events) {
            let data = {};
            try { data = JSON.parse(e.data || "{}"); } catch (err) { data = {text: e.data}; }
            marks.push({ts: e.when, source: source.name, color, what: e.what, data});
          }
        } else {
          const series = await render([substitute(source.metric, values)], 2000);
          for (const s of series) {
            for (const [value, ts] of s.datapoints) {
              if (value > 0) marks.push({ts, source: source.name, color, what: s.target, data: {}});
            }
          }
        }
      } catch (err) {
        marks.push({error: source.name + ": " + err.message});
      }
    }
    return marks;
  }

  function stack(series) {
    const totals = series.length ? series[0].map(() => 0) : [];
    return series.map((values) => values.map((v, i) =>
      (v === null || v === undefined ? null : (totals[i] += v))));
  }

  function panelMarks(panel, marks) {
    if (panel.deploys === false || panel.kind === "single" || panel.kind === "table") return [];
    if (Array.isArray(panel.deploys)) return marks.filter((m) => panel.deploys.includes(m.source));
    return marks;
  }

  function drawThresholds(u, panel, layer) {
    for (const threshold of panel.thresholds || []) {
      const line = el("div", {class: "threshold", "data-value": String(threshold.value)});
      line.style.top = u.valToPos(threshold.value, "y") + "px";
      line.style.borderColor = threshold.color || "#e24d42";
      layer.append(line);
    }
  }

  function drawMarkers(u, marks, layer) {
    layer.replaceChildren();
    const [min, max] = [u.scales.x.min, u.scales.x.max];
    for (const mark of marks) {
      if (mark.error || mark.ts < min || mark.ts > max) continue;
      const left = u.valToPos(mark.ts, "x");
      const line = el("div", {class: "deploy-mark", "data-ts": String(mark.ts),
                              "data-source": mark.source});
      line.style.left = left + "px";
      line.style.borderColor = mark.color;
      const card = el("div", {class: "deploy-card"},
        el("strong", {text: mark.what || "deploy"}),
        el("div", {text: new Date(mark.ts * 1000).toLocaleString()}),
        mark.data.who ? el("div", {text: "by " + mark.data.who}) : null,
        mark.data.sha ? el("div", {text: "sha " + mark.data.sha}) : null);
      const url = mark.data.url && safeUrl(mark.data.url);
      if (url) card.append(el("a", {href: url, rel: "noopener noreferrer", target: "_blank",
                                    text: url}));
      // The line lets drags through (zoom works across it); its flag holds the hover card.
      line.append(el("div", {class: "deploy-flag"}), card);
      layer.append(line);
    }
  }

  // The y axis is as wide as its longest label (uPlot's default 50 px cuts "1.2k req/s").
  const measure = document.createElement("canvas").getContext("2d");
  function axisSize(u, values) {
    if (!values || !values.length) return 50;
    measure.font = '12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif'; // uPlot's
    const widest = Math.max(...values.map((v) => measure.measureText(String(v)).width));
    return Math.ceil(widest) + 18;
  }

  function summary(values) {
    const known = values.filter((v) => v !== null && v !== undefined);
    if (!known.length) return {current: null, min: null, max: null, avg: null};
    return {current: known[known.length - 1], min: Math.min(...known),
            max: Math.max(...known), avg: known.reduce((a, b) => a + b, 0) / known.length};
  }

  function format(value, panel) {
    if (value === null || value === undefined) return "–";
    const decimals = panel.decimals ?? (Math.abs(value) >= 100 ? 0 : 2);
    const units = {percent: "%", ms: " ms", s: " s", bytes: " B", bits: " b",
                   reqps: " req/s", ops: " ops/s"};
    return value.toFixed(decimals) + (units[panel.unit] || "");
  }

  async function drawPanel(panel, box, marks) {
    const body = box.querySelector(".panel-body");
    const values = variableValues();
    const targets = panel.targets.map((t) => (typeof t === "string" ? {target: t} : t));
    const shown = targets.filter((t) => !t.hidden);
    const width = Math.max(200, body.clientWidth);
    let series;
    // Targets on the right axis are asked for separately, so every series returned
    // (a glob may return many) is known to belong to its axis.
    const left = shown.filter((t) => t.axis !== "right");
    const right = shown.filter((t) => t.axis === "right");
    const ordered = left.concat(right);
    try {
      const fetchSide = async (side, flag) => {
        if (!side.length) return [];
        const requests = side.map((t) => substitute(t.target, values));
        let got = (await render(requests, width)).map((s) => Object.assign(s, {right: flag}));
        if (panel.compare) {
          const shifted = await render(
            requests.map((t) => "timeShift(" + t + ",'" + panel.compare + "')"), width);
          got = got.concat(shifted.map((s) => Object.assign(s, {compare: true, right: flag})));
        }
        return got;
      };
      series = (await fetchSide(left, false)).concat(await fetchSide(right, true));
    } catch (err) {
      body.replaceChildren(el("p", {class: "panel-error", text: err.message}));
      box.dataset.state = "error";
      return;
    }
    box.dataset.series = String(series.length);
    if (!series.length) {
      body.replaceChildren(el("p", {class: "panel-empty", text: "No data"}));
      box.dataset.state = "drawn";
      return;
    }
    const labels = series.map((s, i) => {
      const t = ordered[Math.min(i, ordered.length - 1)];
      const base = (series.length === ordered.length && t.alias) ? t.alias : s.target;
      return s.compare ? base + " (" + panel.compare + " ago)" : base;
    });
    const colors = series.map((s, i) =>
      (series.length === ordered.length && ordered[i].color) || PALETTE[i % PALETTE.length]);
    const xs = series[0].datapoints.map((p) => p[1]);
    let ys = series.map((s) => {
      const byTs = new Map(s.datapoints.map(([v, ts]) => [ts, v]));
      return xs.map((x) => (byTs.has(x) ? byTs.get(x) : null));
    });
    if (panel.kind === "single") {
      const stat = summary(ys[0]);
      body.replaceChildren(el("div", {class: "single-value", text: format(stat.current, panel)}));
      box.dataset.state = "drawn";
      return;
    }
    if (panel.kind === "table") {
      const table = el("table", {class: "panel-table"},
        el("tr", {}, el("th", {text: "series"}), el("th", {text: "current"}),
           el("th", {text: "min"}), el("th", {text: "max"}), el("th", {text: "avg"})));
      ys.forEach((values, i) => {
        const stat = summary(values);
        table.append(el("tr", {}, el("td", {text: labels[i]}),
          el("td", {text: format(stat.current, panel)}), el("td", {text: format(stat.min, panel)}),
          el("td", {text: format(stat.max, panel)}), el("td", {text: format(stat.avg, panel)})));
      });
      body.replaceChildren(table);
      box.dataset.state = "drawn";
      return;
    }
    const raw = ys; // the legend's values are each series' own, not the stacked sums
    if (panel.kind === "stacked") ys = stack(ys);
    const layer = el("div", {class: "deploy-layer"});
    const ownMarks = panelMarks(panel, marks);
    const y = panel.y || {};
    const y2 = panel.y2 || {};
    const leftUnit = {unit: y.unit || panel.unit, decimals: panel.decimals};
    const rightUnit = {unit: y2.unit || panel.unit, decimals: panel.decimals};
    const hasRight = series.some((s) => s.right);
    const scale = (axis) => ({distr: axis.log ? 3 : 1,
      range: (u, min, max) => [axis.min ?? Math.min(0, min), axis.max ?? max]});
    const axes = [{}, {values: (u, ticks) => ticks.map((t) => format(t, leftUnit)),
                       size: axisSize, label: y.label}];
    if (hasRight) {
      axes.push({scale: "y2", side: 1, grid: {show: false}, size: axisSize, label: y2.label,
                 values: (u, ticks) => ticks.map((t) => format(t, rightUnit))});
    }
    const options = {
      width, height: panel.height || 240,
      cursor: {sync: {key: "dashboard"}, drag: {x: true, y: false, setScale: false}},
      // The time axis runs to the requested end, not to the last point: a deploy that
      // happened in the newest, still empty, slot is drawn at once.
      scales: Object.assign({x: {time: true, range: (u, min, max) => [min, Math.max(max, untilEpoch())]},
                             y: scale(y)}, hasRight ? {y2: scale(y2)} : {}),
      axes,
      legend: {show: !(panel.legend && panel.legend.show === false)},
      series: [{}].concat(labels.map((label, i) => ({
        label, stroke: colors[i], scale: series[i].right ? "y2" : "y",
        fill: ["area", "stacked"].includes(panel.kind) ? colors[i] + "33" : undefined,
        paths: panel.kind === "bars" ? uPlot.paths.bars({size: [0.8]}) : undefined,
        dash: series[i].compare ? [6, 4] : undefined,
        value: (u, v) => format(v, series[i].right ? rightUnit : leftUnit),
      }))),
      hooks: {
        draw: [(u) => { drawMarkers(u, ownMarks, layer); drawThresholds(u, panel, layer); }],
        setSelect: [(u) => {
          if (u.select.width < 5) return;
          zoomTo(u.posToVal(u.select.left, "x"), u.posToVal(u.select.left + u.select.width, "x"));
        }],
      },
    };
    body.replaceChildren();
    const plot = new uPlot(options, [xs, ...ys], body);
    plot.over.append(layer);
    plots.push(plot);
    box.dataset.axes = hasRight ? "2" : "1";
    const columns = (panel.legend && panel.legend.values) || [];
    if (columns.length) {
      body.append(legendTable(labels, colors, raw, columns, series, leftUnit, rightUnit));
    }
    box.dataset.state = "drawn";
  }

  // The legend's value columns (current, min, max, avg over the range), a row a series.
  function legendTable(labels, colors, ys, columns, series, leftUnit, rightUnit) {
    const table = el("table", {class: "legend-values"},
      el("tr", {}, el("th", {text: ""}), ...columns.map((c) => el("th", {text: c}))));
    ys.forEach((values, i) => {
      const stat = summary(values);
      const unit = series[i].right ? rightUnit : leftUnit;
      const swatch = el("span", {class: "swatch"});
      swatch.style.background = colors[i];
      table.append(el("tr", {}, el("td", {}, swatch, el("span", {text: labels[i]})),
        ...columns.map((c) => el("td", {class: "num", text: format(stat[c], unit)}))));
    });
    return table;
  }

  function header() {
    const {from, until} = range();
    const picker = el("select", {id: "time-range", "aria-label": "Time range"});
    for (const [value, label] of PRESETS) picker.append(el("option", {value, text: label}));
    if (!PRESETS.some(([value]) => value === from)) {
      const absolute = (t) => (/^\d+$/.test(t) ? new Date(Number(t) * 1000).toLocaleString() : t);
      picker.append(el("option", {value: from, text: absolute(from) + " – " + absolute(until)}));
    }
    picker.value = from;
    picker.addEventListener("change", () => {
      setParam("until", null);
      setParam("from", picker.value, true);
      draw();
    });
    // An absolute range: two local times, applied together.
    const local = (t) => {
      if (!/^\d+$/.test(t)) return "";
      const date = new Date(Number(t) * 1000);
      return new Date(date.getTime() - date.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
    };
    const fromBox = el("input", {type: "datetime-local", id: "abs-from", "aria-label": "From"});
    const untilBox = el("input", {type: "datetime-local", id: "abs-until", "aria-label": "Until"});
    fromBox.value = local(from);
    untilBox.value = local(until);
    const apply = el("button", {type: "button", id: "abs-apply", text: "Apply"});
    apply.addEventListener("click", () => {
      const start = Date.parse(fromBox.value);
      const end = untilBox.value ? Date.parse(untilBox.value) : Date.now();
      if (Number.isNaN(start) || Number.isNaN(end) || end <= start) {
        fromBox.setCustomValidity("From must be a time before Until");
        fromBox.reportValidity();
        return;
      }
      fromBox.setCustomValidity("");
      setParam("until", String(Math.floor(end / 1000)));
      setParam("from", String(Math.floor(start / 1000)), true);
      draw();
    });
    const absolute = el("span", {class: "absolute"}, fromBox, el("span", {text: " – "}),
                        untilBox, apply);
    const controls = el("div", {class: "controls"}, picker, absolute);
    for (const v of spec.variables || []) {
      const select = el("select", {id: "var-" + v.name, "aria-label": v.label || v.name});
      select.multiple = Boolean(v.multi);
      const picked = chosen(v);
      const all = allValue(v);
      const fill = (options) => {
        const offered = (v.all || picked.includes(all) ? [all] : []).concat(options);
        for (const option of offered) {
          const item = el("option", {value: option, text: option === all ? "all" : option});
          item.selected = picked.includes(option);
          select.append(item);
        }
        select.dataset.state = "filled";
      };
      if (v.values) fill(v.values);
      else if (v.tag) {
        const query = new URLSearchParams({tag: v.tag});
        for (const expression of v.expr || []) query.append("expr", expression);
        fetch("/tags/autoComplete/values?" + query)
          .then((r) => r.json()).then((r) => fill(Array.isArray(r) ? r : [])).catch(() => fill([]));
      } else fetch("/metrics/find?format=completer&query=" + encodeURIComponent(v.query))
        .then((r) => r.json()).then((r) => fill(r.metrics.filter((m) => m.path).map((m) => m.name)))
        .catch(() => fill([]));
      select.addEventListener("change", () => {
        const values = Array.from(select.selectedOptions, (option) => option.value);
        setParam("var-" + v.name, values.join(","));
        draw();
      });
      controls.append(el("label", {text: (v.label || v.name) + " "}, select));
    }
    const hidden = new Set((params.get("hide") || "").split(",").filter(Boolean));
    for (const source of spec.deploys || []) {
      const box = el("input", {type: "checkbox", "data-source": source.name});
      box.checked = !hidden.has(source.name) && source.enabled !== false;
      box.addEventListener("change", () => {
        box.checked ? hidden.delete(source.name) : hidden.add(source.name);
        setParam("hide", Array.from(hidden).join(","));
        draw();
      });
      const swatch = el("span", {class: "swatch"});
      swatch.style.background = source.color || "#e24d42";
      controls.append(el("label", {class: "deploy-toggle"}, box, swatch,
                         document.createTextNode(" " + source.name)));
    }
    const title = el("h1", {}, el("a", {href: "/dashboards", text: "dashboards"}),
                     document.createTextNode(" / " + spec.title));
    const links = el("nav", {class: "links"});
    for (const link of spec.links || []) {
      const url = safeUrl(link.url);
      if (url) links.append(el("a", {href: url, rel: "noopener noreferrer", text: link.title}));
    }
    return el("header", {}, title,
              spec.description ? el("p", {class: "hint", text: spec.description}) : null,
              controls, links);
  }

  function withPanel(key) {
    const copy = new URLSearchParams(params);
    copy.set("panel", key);
    return copy.toString();
  }

  function withoutPanel() {
    const copy = new URLSearchParams(params);
    copy.delete("panel");
    return copy.toString();
  }

  let drawing = 0; // which draw is the latest: only it may say the page is drawn

  async function draw() {
    const generation = ++drawing;
    app.dataset.state = "loading";
    const only = params.get("panel");
    for (const plot of plots.splice(0)) plot.destroy();
    const grid = el("main", {class: "rows"});
    app.replaceChildren(header(), grid);
    const boxes = [];
    for (const row of spec.rows) {
      const section = el("section", {class: "row"});
      if (row.title) section.append(el("h2", {text: row.title}));
      const panels = el("div", {class: "panels"});
      for (let panel of row.panels) {
        const key = panel.id || panel.title;
        if (only && only !== key) continue;
        const box = el("article", {class: "panel", "data-state": "loading", "data-panel": key});
        box.style.gridColumn = "span " + (only ? 12 : (panel.width || 6));
        if (only) panel = Object.assign({}, panel, {width: 12, height: 480});
        const values = variableValues();
        const targets = panel.targets.map((t) => substitute(typeof t === "string" ? t : t.target, values));
        const tools = el("span", {class: "panel-tools"},
          el("a", {href: csvUrl(targets), class: "csv", text: "CSV", download: key + ".csv"}),
          only ? el("a", {href: "?" + withoutPanel(), class: "back", text: "back"})
               : el("a", {href: "?" + withPanel(key), class: "full", text: "full size"}));
        box.append(el("h3", {}, el("span", {class: "panel-title", text: panel.title}), tools),
                   el("div", {class: "panel-body"},
                   el("p", {class: "loading", text: "Loading…"})));
        panels.append(box);
        boxes.push([panel, box]);
      }
      section.append(panels);
      if (panels.childElementCount) grid.append(section);
    }
    const marks = await deployMarks();
    await Promise.all(boxes.map(([panel, box]) => drawPanel(panel, box, marks)));
    if (generation === drawing) {
      app.dataset.state = "drawn";
      // For timing tools (bench/dashboard_render.py): navigation to every panel drawn.
      performance.mark("dashboard-drawn");
    }
  }

  async function load() {
    const response = await fetch("/api/dashboards/" + encodeURIComponent(id));
    const answer = await response.json();
    if (!response.ok) {
      app.replaceChildren(el("p", {class: "panel-error", text: answer.error}));
      return false;
    }
    const changed = answer.version !== version;
    spec = answer.spec;
    version = answer.version;
    return changed;
  }

  function schedule() {
    clearInterval(refreshTimer);
    const every = params.get("refresh") || spec.refresh || "off";
    const match = /^(\d+)(s|m|h)$/.exec(every);
    if (match) {
      const ms = Number(match[1]) * {s: 1000, m: 60000, h: 3600000}[match[2]];
      refreshTimer = setInterval(draw, ms);
    }
  }

  load().then((ok) => {
    if (!ok) return;
    draw();
    schedule();
    setInterval(async () => {  // a changed file on disk redraws the page
      if (await load()) { app.dataset.state = "loading"; draw(); schedule(); }
    }, 3000);
  });
})();
