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

  function csvUrl(targets, panel) {
    const {from, until} = range(panel);
    const query = new URLSearchParams({from, until, format: "csv"});
    for (const t of targets) query.append("target", t);
    return "/render?" + query.toString();
  }

  // The range a panel shows: its own ("time" in the file) or the dashboard's.
  function range(panel) {
    if (panel && panel.time) return {from: panel.time.from, until: panel.time.until || "now"};
    const time = spec.time || {};
    return {from: params.get("from") || time.from || "-6h",
            until: params.get("until") || time.until || "now"};
  }

  // Graphite's relative units, in seconds (mon and y as graphite-web counts them).
  const UNITS = {s: 1, sec: 1, second: 1, min: 60, minute: 60, h: 3600, hour: 3600,
                 d: 86400, day: 86400, w: 604800, week: 604800, mon: 2592000,
                 month: 2592000, y: 31536000, year: 31536000};

  // A Graphite time ("now", an epoch, "-6h", "-15min") in epoch seconds; null for the
  // other forms (those leave the axis to the data).
  function epochOf(t, now) {
    if (t === "now" || t === undefined) return now;
    if (/^\d+$/.test(t)) return Number(t);
    const match = /^-(\d+)([a-z]+?)s?$/.exec(t);
    if (match && UNITS[match[2]]) return now - Number(match[1]) * UNITS[match[2]];
    return null;
  }

  function rangeEpochs(panel) {
    const now = Date.now() / 1000;
    const {from, until} = range(panel);
    return {from: epochOf(from, now), until: epochOf(until, now)};
  }

  // One way to write a time everywhere on the page (legend, cards, ranges), with its
  // zone: 2026-12-03 14:05:10 UTC. The axes use the same order and the 24-hour clock.
  const TIME = new Intl.DateTimeFormat("en-US", {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    second: "2-digit", hourCycle: "h23", timeZoneName: "short"});
  function fmtTime(ts) {
    const part = Object.fromEntries(TIME.formatToParts(new Date(ts * 1000))
      .map((p) => [p.type, p.value]));
    return `${part.year}-${part.month}-${part.day} ${part.hour}:${part.minute}:${part.second}`
      + ` ${part.timeZoneName}`;
  }
  const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  // uPlot's tick label templates by tick spacing, in the same form as fmtTime.
  const X_TICKS = [
    [3600 * 24 * 365, "{YYYY}", null, null, null, null, null, null, 1],
    [3600 * 24 * 28, "{YYYY}-{MM}", "\n{YYYY}", null, null, null, null, null, 1],
    [3600 * 24, "{MM}-{DD}", "\n{YYYY}", null, null, null, null, null, 1],
    [3600, "{HH}:{mm}", "\n{YYYY}-{MM}-{DD}", null, "\n{MM}-{DD}", null, null, null, 1],
    [60, "{HH}:{mm}", "\n{YYYY}-{MM}-{DD}", null, "\n{MM}-{DD}", null, null, null, 1],
    [1, "{HH}:{mm}:{ss}", "\n{YYYY}-{MM}-{DD}", null, "\n{MM}-{DD}", null, null, null, 1],
  ];

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

  async function render(targets, width, panel) {
    const body = new URLSearchParams();
    const {from, until} = range(panel);
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

  // Running totals for a stacked panel; series with different ``groups`` (now, and the
  // compare overlay) are stacked apart.
  function stack(series, groups) {
    const totals = new Map();
    return series.map((values, k) => {
      if (!totals.has(groups[k])) totals.set(groups[k], values.map(() => 0));
      const sums = totals.get(groups[k]);
      return values.map((v, i) => (v === null || v === undefined ? null : (sums[i] += v)));
    });
  }

  // A stacked area fills between a series and the one below it in its stack (uPlot
  // bands), not down to zero: overlapping fills would mix colours and hide the parts.
  function stackBands(groups) {
    const bands = [];
    groups.forEach((g, k) => {
      if (k > 0 && groups[k - 1] === g) bands.push({series: [k + 1, k]});
    });
    return bands;
  }

  function panelMarks(panel, marks) {
    if (panel.deploys === false || panel.kind === "single" || panel.kind === "table") return [];
    if (Array.isArray(panel.deploys)) return marks.filter((m) => panel.deploys.includes(m.source));
    return marks;
  }

  function drawThresholds(u, panel, layer) {
    const [low, high] = [u.scales.y.min, u.scales.y.max];
    for (const threshold of panel.thresholds || []) {
      // a threshold outside the values' range is not drawn (nor does it stretch the axis)
      if (!(threshold.value >= low && threshold.value <= high)) continue;
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
        el("div", {text: fmtTime(mark.ts)}),
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

  const SUFFIX = {percent: "%", ms: " ms", s: " s", bytes: " B", bits: " b",
                  reqps: " req/s", ops: " ops/s"};

  // A value as a person reads it: the panel's decimals if it sets them; none when all
  // its values are whole (a count is "2", not "2.00"); else as many as the size needs.
  // ``panel`` may be a unit ({unit, decimals, integral}) as well as a panel.
  function format(value, panel, decimals) {
    if (value === null || value === undefined) return "–";
    let places = decimals ?? panel.decimals;
    if (places === undefined) {
      const size = Math.abs(value);
      places = panel.integral || size >= 100 ? 0 : size >= 10 ? 1 : 2;
    }
    const text = value.toLocaleString("en-US", {minimumFractionDigits: places,
                                                maximumFractionDigits: places});
    return text + (SUFFIX[panel.unit] || "");
  }

  // Tick labels with just the decimals their spacing needs, so no two read the same.
  function tickLabels(unit) {
    return (u, ticks, axisIdx, space, incr) => {
      let places = 0; // as many as the spacing has (2.5 -> 1, 0.25 -> 2)
      while (places < 6 && Math.abs(incr * 10 ** places - Math.round(incr * 10 ** places)) > 1e-6) {
        places += 1;
      }
      return ticks.map((t) => format(t, {unit: unit.unit}, places));
    };
  }

  const INTEGER_STEPS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1e3, 2e3, 2.5e3, 5e3,
                         1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 1e8, 1e9];

  // The panel's y range: from the file, else from 0 (or below) to the data; never empty,
  // so an all-zero panel still has an axis to read.
  function yRange(axis) {
    return (u, min, max) => {
      let low = axis.min ?? Math.min(0, min ?? 0);
      let high = axis.max ?? (max ?? 1);
      if (!(high > low)) high = low + 1;
      return [low, high];
    };
  }

  // A series' label in the legend: the alias given in the file when one target gave one
  // series, else the name from Graphite; a compare series is "name 7d ago".
  function labelsOf(series, ordered, panel) {
    const own = series.filter((s) => !s.compare);
    const name = (s, i) => {
      const t = ordered[Math.min(i, ordered.length - 1)];
      return own.length === ordered.length && t.alias ? t.alias : s.target;
    };
    return series.map((s, i) => {
      if (!s.compare) return name(s, i);
      const j = i - own.length;
      const base = j < own.length ? name(own[j], j) : s.target;
      return base + " " + panel.compare + " ago";
    });
  }

  // Series drawn as vertical lines (graphite's drawAsInfinite): a line at every point
  // above zero, as tall as the plot, like a deploy marker.
  function infiniteMarks(series, labels, colors) {
    const marks = [];
    series.forEach((s, i) => {
      if (!s.tags || s.tags.drawAsInfinite !== "1") return;
      for (const [value, ts] of s.datapoints) {
        if (value > 0) marks.push({ts, source: labels[i], color: colors[i], what: labels[i],
                                   data: {}, infinite: true});
      }
    });
    return marks;
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
    try {
      const fetchSide = async (side, flag) => {
        if (!side.length) return [];
        // A single stat is the latest value: its last slot must not be an average.
        const requests = side.map((t) => substitute(t.target, values)).map((t) =>
          (panel.kind === "single" ? "consolidateBy(" + t + ",'last')" : t));
        let got = (await render(requests, width, panel)).map((s) => Object.assign(s, {right: flag}));
        if (panel.compare) {
          const shifted = await render(
            requests.map((t) => "timeShift(" + t + ",'" + panel.compare + "')"), width, panel);
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
    box.dataset.points = String(Math.max(10, Math.round(width)));  // maxDataPoints asked
    if (!series.length) {
      body.replaceChildren(el("p", {class: "panel-empty", text: "No data"}));
      box.dataset.state = "drawn";
      return;
    }
    const ordered = left.concat(right);
    const labels = labelsOf(series, ordered, panel);
    const colors = series.map((s, i) =>
      (series.length === ordered.length && ordered[i].color) || PALETTE[i % PALETTE.length]);
    const xs = series[0].datapoints.map((p) => p[1]);
    // Every series on the first one's time slots. A series with another step (the
    // compare overlay may come from a coarser archive) holds each value over its own
    // interval: a 10-minute point covers the ten minutes of 10-second slots after it.
    const ys = series.map((s) => {
      const points = s.datapoints;
      if (!points.length) return xs.map(() => null);
      const first = points[0][1];
      const step = points.length > 1 ? points[1][1] - first : Infinity;
      return xs.map((x) => {
        const k = step === Infinity ? (x >= first ? 0 : -1) : Math.floor((x - first) / step);
        return k >= 0 && k < points.length ? points[k][0] : null;
      });
    });
    const hasData = ys.map((v) => v.some((x) => x !== null && x !== undefined));
    // Whole numbers everywhere (counts): shown without decimals, but for averages.
    const wholeIn = (idxs) => idxs.every((i) => ys[i].every((x) => x === null || x === undefined
                                                                  || Number.isInteger(x)));
    const shownAs = Object.assign({}, panel, {integral: wholeIn(ys.map((v, i) => i))});
    const average = Object.assign({}, shownAs, {integral: false});
    if (panel.kind === "single") {
      const stat = summary(ys[0]);
      const big = el("div", {class: "single-value", text: format(stat.current, shownAs)});
      big.dataset.value = stat.current === null ? "" : String(stat.current);
      body.replaceChildren(big);
      box.dataset.state = "drawn";
      return;
    }
    if (panel.kind === "table") {
      const table = el("table", {class: "panel-table"},
        el("tr", {}, el("th", {text: "series"}), el("th", {text: "current"}),
           el("th", {text: "min"}), el("th", {text: "max"}), el("th", {text: "avg"})));
      ys.forEach((values, i) => {
        if (!hasData[i]) return; // a series with no point in the range is no row of "–"
        const stat = summary(values);
        table.append(el("tr", {}, el("td", {text: labels[i]}),
          el("td", {text: format(stat.current, shownAs)}),
          el("td", {text: format(stat.min, shownAs)}), el("td", {text: format(stat.max, shownAs)}),
          el("td", {text: format(stat.avg, average)})));
      });
      body.replaceChildren(table);
      box.dataset.state = "drawn";
      return;
    }
    // drawAsInfinite series are vertical lines over the plot, not values on the y axis.
    const isInfinite = (s) => Boolean(s.tags && s.tags.drawAsInfinite === "1");
    const infinite = infiniteMarks(series, labels, colors);
    const plotted = series.map((s, i) => i).filter((i) => !isInfinite(series[i]));
    const raw = plotted.map((i) => ys[i]); // each series' own values: legend and hover
    const groups = plotted.map((i) => (series[i].compare ? "compare" : "now"));
    const drawn = panel.kind === "stacked" ? stack(raw, groups) : raw;
    const layer = el("div", {class: "deploy-layer"});
    const ownMarks = panelMarks(panel, marks).concat(infinite);
    const y = panel.y || {};
    const y2 = panel.y2 || {};
    const leftUnit = {unit: y.unit || panel.unit, decimals: panel.decimals,
                      integral: wholeIn(plotted.filter((i) => !series[i].right))};
    const rightUnit = {unit: y2.unit || panel.unit, decimals: panel.decimals,
                       integral: wholeIn(plotted.filter((i) => series[i].right))};
    const hasRight = plotted.some((i) => series[i].right);
    // Counts get whole-number ticks (no "2, 2, 1, 1, 0" from rounding halves).
    const whole = (side) => panel.decimals === 0 || (side ? rightUnit : leftUnit).integral;
    // The page says what it drew (ticks, x range, cursor) in data-* attributes: a person
    // reads the canvas, a test reads these.
    const yAxis = (unit, side) => Object.assign({size: axisSize, values: (u, ...rest) => {
      const labels = tickLabels(unit)(u, ...rest);
      box.dataset[side ? "y2ticks" : "yticks"] = labels.join("|");
      return labels;
    }}, whole(side) ? {incrs: INTEGER_STEPS} : {});
    const axes = [{values: X_TICKS, space: 70}, Object.assign(yAxis(leftUnit, false),
                                    {label: y.label, show: plotted.length > 0})];
    if (hasRight) {
      axes.push(Object.assign(yAxis(rightUnit, true),
                              {scale: "y2", side: 1, grid: {show: false}, label: y2.label}));
    }
    const {from, until} = rangeEpochs(panel);
    const step = xs.length > 1 ? xs[1] - xs[0] : Math.max(1, (until ?? xs[0] + 60) - xs[0]);
    const columns = (panel.legend && panel.legend.values) || [];
    const legendShown = !(panel.legend && panel.legend.show === false);
    // Under the cursor: each series' own value there; elsewhere: its latest value.
    const latest = raw.map((values) => summary(values).current);
    const ownValue = (k, right) => (u, v, si, idx) =>
      format(idx === null || idx === undefined ? latest[k] : raw[k][idx],
             right ? rightUnit : leftUnit);
    const options = {
      width, height: panel.height || 240,
      cursor: {sync: {key: "dashboard"}, drag: {x: true, y: false, setScale: false}},
      // The time axis is the range asked for, not the span of the points: a deploy in
      // the newest, still empty slot is drawn at once, and a day-long bucket that began
      // before the range does not stretch the axis.
      scales: Object.assign({
        x: {time: true, range: (u, min, max) => {
          const low = from ?? min;
          return [low, Math.max(until ?? max, low + 1)];
        }},
        y: {distr: y.log ? 3 : 1, range: yRange(y)},
      }, hasRight ? {y2: {distr: y2.log ? 3 : 1, range: yRange(y2)}} : {}),
      axes,
      bands: panel.kind === "stacked" ? stackBands(groups) : undefined,
      // One legend a panel: uPlot's (live values under the cursor), or the value table.
      legend: {show: legendShown && !columns.length},
      series: [{value: (u, ts) => (ts === null || ts === undefined ? "latest" : fmtTime(ts))}]
        .concat(plotted.map((i, k) => ({
          label: labels[i], stroke: colors[i], scale: series[i].right ? "y2" : "y",
          fill: series[i].compare ? undefined
            : panel.kind === "bars" ? colors[i] + "b3"
            : ["area", "stacked"].includes(panel.kind) ? colors[i] + "40" : undefined,
          paths: panel.kind === "bars" ? bucketBars(k, plotted.length, step) : undefined,
          points: panel.kind === "bars" ? {show: false} : undefined,
          dash: series[i].compare ? [6, 4] : undefined,
          // the value under the cursor is the series' own, never the stacked height
          value: ownValue(k, series[i].right),
        }))),
      hooks: {
        draw: [(u) => {
          drawMarkers(u, ownMarks, layer);
          drawThresholds(u, panel, layer);
          box.dataset.xrange = u.scales.x.min + "," + u.scales.x.max;
        }],
        setCursor: [(u) => {
          const idx = u.cursor.idx;
          box.dataset.cursor = idx === null || idx === undefined ? "" : String(u.data[0][idx]);
          cursorColumn(box, u, raw, plotted.map((i) => series[i]), leftUnit, rightUnit);
        }],
        setSelect: [(u) => {
          if (u.select.width < 5) return;
          zoomTo(u.posToVal(u.select.left, "x"), u.posToVal(u.select.left + u.select.width, "x"));
        }],
      },
    };
    body.replaceChildren();
    const plot = new uPlot(options, [xs, ...drawn], body);
    plot.over.append(layer);
    plots.push(plot);
    box.dataset.axes = hasRight ? "2" : "1";
    if (legendShown && columns.length) {
      body.append(legendTable(plotted, labels, colors, ys, hasData, columns, series,
                              leftUnit, rightUnit));
    }
    if (infinite.length || plotted.length < series.length) {
      const keys = el("div", {class: "infinite-legend"});
      series.forEach((s, i) => {
        if (!isInfinite(s)) return;
        const swatch = el("span", {class: "swatch"});
        swatch.style.background = colors[i];
        keys.append(el("span", {}, swatch, document.createTextNode(labels[i])));
      });
      body.append(keys);
    }
    box.dataset.state = "drawn";
  }

  // Bars that span their bucket (a day's count covers the day, not a thin bar centred
  // on midnight); several series share the bucket side by side.
  function bucketBars(k, n, step) {
    const width = step / n;
    return uPlot.paths.bars({
      size: [1, Infinity, 1],
      disp: {
        x0: {unit: 3, values: (u) => u.data[0].map((x) => x + k * width + width * 0.05)},
        size: {unit: 3, values: () => [width * 0.9]},
      },
    });
  }

  // The legend table's first value column: each series' own value under the cursor,
  // headed by the cursor's time (empty while the cursor is elsewhere).
  function cursorColumn(box, u, raw, series, leftUnit, rightUnit) {
    const table = box.querySelector("table.legend-values");
    if (!table) return;
    const idx = u.cursor.idx;
    const off = idx === null || idx === undefined;
    table.querySelector("th.at-cursor").textContent = off ? "" : fmtTime(u.data[0][idx]);
    for (const cell of table.querySelectorAll("td.at-cursor")) {
      const k = Number(cell.dataset.k);
      cell.textContent = off ? "" : format(raw[k][idx], series[k].right ? rightUnit : leftUnit);
    }
  }

  // The legend as a table: a row for each plotted series with data, with its value under
  // the cursor and the chosen columns (current, min, max, avg over the range).
  function legendTable(plotted, labels, colors, ys, hasData, columns, series, leftUnit,
                       rightUnit) {
    const table = el("table", {class: "legend-values"},
      el("tr", {}, el("th", {text: ""}), el("th", {class: "at-cursor num"}),
         ...columns.map((c) => el("th", {text: c}))));
    plotted.forEach((i, k) => {
      if (!hasData[i]) return;
      const stat = summary(ys[i]);
      const unit = series[i].right ? rightUnit : leftUnit;
      const swatch = el("span", {class: "swatch"});
      swatch.style.background = colors[i];
      table.append(el("tr", {}, el("td", {}, swatch, el("span", {text: labels[i]})),
        el("td", {class: "num at-cursor", "data-k": String(k)}),
        ...columns.map((c) => el("td", {class: "num", "data-column": c,
                                        text: format(stat[c], c === "avg"
                                          ? Object.assign({}, unit, {integral: false})
                                          : unit)}))));
    });
    return table;
  }

  // Problems of the file (it no longer parses, an id taken twice…): the page keeps the
  // last good version and says so, naming file, line and error.
  const banner = el("div", {class: "problems", id: "problems", role: "alert"});
  function showProblems(problems) {
    banner.replaceChildren();
    banner.hidden = !problems.length;
    if (!problems.length) return;
    banner.append(el("strong", {text: "This dashboard's file has problems; showing its last"
                                      + " good version:"}));
    const list = el("ul");
    for (const problem of problems) list.append(el("li", {text: problem}));
    banner.append(list);
  }

  function header() {
    const {from, until} = range();
    const picker = el("select", {id: "time-range", "aria-label": "Time range"});
    for (const [value, label] of PRESETS) picker.append(el("option", {value, text: label}));
    if (!PRESETS.some(([value]) => value === from)) {
      const absolute = (t) => (/^\d+$/.test(t) ? fmtTime(Number(t)) : t);
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
    const zone = el("span", {class: "zone hint", text: "times in " + ZONE});
    const controls = el("div", {class: "controls"}, picker, absolute, zone);
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
              banner, controls, links);
  }

  function ownRange(panel) {
    const {from, until} = range(panel);
    const since = from.replace(/^-/, "last ");
    return until === "now" ? since : from + " – " + until;
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
          panel.time ? el("span", {class: "own-range", text: ownRange(panel),
                                   title: "This panel has its own time range"}) : null,
          el("a", {href: csvUrl(targets, panel), class: "csv", text: "CSV",
                   download: key + ".csv"}),
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
      app.replaceChildren(el("p", {class: "panel-error", text: answer.error}), banner);
      showProblems(answer.problems || []);
      return false;
    }
    showProblems(answer.problems || []);
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

  // First draw, then every 3 s: a changed file redraws the page, a broken one shows its
  // problems over the last good version, a file fixed after a bad start draws at last.
  async function refreshFromFile() {
    if (await load()) { draw(); schedule(); }
  }
  refreshFromFile();
  setInterval(refreshFromFile, 3000);
})();
