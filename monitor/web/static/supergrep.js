// supergrep in the browser: the live log page (protocol v1, docs/supergrep.md).
//
// Log text is attacker-controlled: everything from the server is put into the page
// with textContent and DOM nodes, never as HTML; links only for http(s) URLs, with
// rel="noopener noreferrer". No inline handlers (the page's CSP forbids them anyway).
//
// Rendering is batched: messages go into a queue, and one requestAnimationFrame per
// frame turns the queue into DOM nodes, then trims the log to the configured number of
// lines, so a flood costs one layout per frame and the DOM stays bounded.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const log = $("log");
  const PAUSE_LIMIT = 20000;
  const BACKFILL = 200;
  const CONTEXT = 50; // lines before a permalinked line

  const state = {
    streams: new Set(),
    include: "",
    exclude: "",
    highlight: "",
    matchCase: false,
    wrap: true,
    keep: 5000,
  };
  let known = []; // [{name, rate, hosts, last_seq}]
  let socket = null;
  let epoch = "";
  let lastSeq = {}; // stream -> last seq shown (or queued), for resume
  let connected = false;
  let retryDelay = 500;
  let paused = false;
  let pausedQueue = [];
  let pausedDropped = 0;
  let renderQueue = [];
  let frameRequested = false;
  let unseen = 0;
  let highlighter = null;
  let target = null; // {stream, seq, epoch} from a permalink
  let lastEntry = null; // the entry a continuation line joins
  let linesShown = 0; // .line elements in the log (counted, not queried: trim runs every frame)
  const baseTitle = document.title;

  // -- filters as the user types them -------------------------------------------------

  const escapeRegex = (s) => s.replace(/[.*+?^${}()|[\]\\\/]/g, "\\$&");

  // "/regex/" is a regex; text with a comma is a list of words; anything else a regex.
  function patterns(text) {
    const t = text.trim();
    if (!t) return [];
    const slashed = /^\/(.*)\/([a-z]*)$/.exec(t);
    if (slashed) return [slashed[1]];
    if (t.includes(",")) {
      return t.split(",").map((w) => w.trim()).filter(Boolean).map(escapeRegex);
    }
    return [t];
  }

  function buildHighlighter() {
    const list = patterns(state.highlight);
    showError("highlight", "");
    if (!list.length) return null;
    try {
      return new RegExp(list.map((p) => `(?:${p})`).join("|"), state.matchCase ? "g" : "gi");
    } catch (e) {
      showError("highlight", `invalid regex: ${e.message}`);
      return null;
    }
  }

  function showError(field, message) {
    const box = $(`${field}-error`);
    if (box) box.textContent = message;
    const input = $(field);
    if (input) input.classList.toggle("invalid", Boolean(message));
  }

  // -- the URL holds the view -------------------------------------------------------------

  function readUrl() {
    const q = new URLSearchParams(location.search);
    const streams = q.get("streams");
    if (streams) state.streams = new Set(streams.split(",").filter(Boolean));
    state.include = q.get("include") || "";
    state.exclude = q.get("exclude") || "";
    state.highlight = q.get("highlight") || "";
    state.matchCase = q.get("case") === "1";
    state.wrap = q.get("wrap") !== "0";
    const keep = parseInt(q.get("keep") || "", 10);
    if (keep > 0) state.keep = keep;
    const hash = /^#line=([^:]+):(\d+)(?:@(\w+))?$/.exec(location.hash);
    if (hash) target = { stream: decodeURIComponent(hash[1]), seq: +hash[2], epoch: hash[3] || "" };
  }

  function writeUrl() {
    const q = new URLSearchParams();
    if (state.streams.size) q.set("streams", [...state.streams].join(","));
    if (state.include) q.set("include", state.include);
    if (state.exclude) q.set("exclude", state.exclude);
    if (state.highlight) q.set("highlight", state.highlight);
    if (state.matchCase) q.set("case", "1");
    if (!state.wrap) q.set("wrap", "0");
    if (state.keep !== 5000) q.set("keep", String(state.keep));
    const query = q.toString();
    history.replaceState(null, "", `${location.pathname}${query ? "?" + query : ""}${location.hash}`);
  }

  function syncControls() {
    $("include").value = state.include;
    $("exclude").value = state.exclude;
    $("highlight").value = state.highlight;
    $("case").checked = state.matchCase;
    $("wrap").checked = state.wrap;
    $("keep").value = String(state.keep);
    log.classList.toggle("nowrap", !state.wrap);
  }

  // -- the connection -------------------------------------------------------------------

  function setStatus(text, kind) {
    const el = $("status");
    el.textContent = text;
    el.className = `conn ${kind}`;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${scheme}//${location.host}/supergrep/ws`);
    setStatus(connected ? "reconnecting…" : "connecting…", "pending");
    socket.addEventListener("open", () => {
      const token = sessionStorage.getItem("supergrep-token");
      if (token) socket.send(JSON.stringify({ type: "auth", token }));
    });
    socket.addEventListener("message", (event) => receive(JSON.parse(event.data)));
    socket.addEventListener("close", () => {
      setStatus(`disconnected; retrying in ${(retryDelay / 1000).toFixed(1)} s`, "down");
      socket = null;
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 5000);
    });
  }

  // Each subscription is numbered; until the hub's "subscribed" with our number arrives,
  // lines in flight were chosen by the previous filter and are not shown.
  let subscription = 0;
  let awaiting = 0;

  function subscribe(first) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    if (first && target && target.epoch && target.epoch !== epoch) {
      notice("gap", `Line ${target.seq} of ${target.stream} is from an earlier run of the hub; it is no longer held.`);
      target = null;
    }
    if (first && target) state.streams.add(target.stream);
    if (!first) {
      // A new filter is a new view: what is on the page was chosen by the old one.
      log.replaceChildren();
      renderQueue = [];
      lastEntry = null;
      linesShown = 0;
    }
    subscription += 1;
    awaiting = subscription;
    const message = {
      type: "subscribe",
      id: subscription,
      streams: [...state.streams],
      include: patterns(state.include),
      exclude: patterns(state.exclude),
      ignore_case: !state.matchCase,
    };
    if (first && target) {
      message.resume = { [target.stream]: Math.max(0, target.seq - CONTEXT - 1) };
      message.epoch = epoch;
    } else if (first && Object.keys(lastSeq).length && epoch) {
      message.resume = lastSeq; // after a reconnect: no gap, no duplicates
      message.epoch = epoch;
    } else {
      message.backfill = BACKFILL;
    }
    showError("include", "");
    showError("exclude", "");
    socket.send(JSON.stringify(message));
  }

  function receive(message) {
    switch (message.type) {
      case "hello": {
        const restarted = Boolean(epoch) && message.epoch !== epoch;
        const resuming = Boolean(epoch) && !restarted;
        if (restarted) {
          lastSeq = {};
          notice("gap", "The hub restarted: lines written while it was down may be missing here.");
        }
        epoch = message.epoch;
        known = message.streams;
        if (!state.streams.size) known.forEach((s) => state.streams.add(s.name));
        drawStreams();
        connected = true;
        retryDelay = 500;
        setStatus("live", "up");
        subscribe(true);
        if (resuming) notice("info", "Reconnected; resumed from the last line shown.");
        break;
      }
      case "subscribed":
        if (message.id === awaiting) awaiting = 0;
        break;
      case "lines":
        if (awaiting) break; // chosen by the filter before the change
        for (const line of message.lines) {
          lastSeq[line.stream] = line.seq;
          enqueue({ kind: "line", line });
        }
        break;
      case "dropped": {
        if (awaiting) break;
        const which = Object.entries(message.streams).map(([s, n]) => `${n} from ${s}`).join(", ");
        enqueue({ kind: "notice", level: "drop",
          text: `${message.count} lines dropped: this page read too slowly (${which}).` });
        break;
      }
      case "gap": {
        const span = message.from ? ` (lines ${message.from}–${message.to})` : "";
        enqueue({ kind: "notice", level: "gap", text: `Gap in ${message.stream}${span}: ${message.reason}.` });
        break;
      }
      case "filter_off":
        showError(message.field, `switched off: ${message.reason}`);
        enqueue({ kind: "notice", level: "drop",
          text: `The server switched off ${message.field} pattern ${message.pattern}: ${message.reason}.` });
        break;
      case "error":
        if (message.code === "unauthorized") {
          askToken();
        } else if (message.field === "include" || message.field === "exclude") {
          showError(message.field, message.message);
        } else {
          notice("error", message.message);
        }
        break;
      case "heartbeat":
        known = message.streams;
        drawStreams();
        break;
      case "deploy":
        enqueue({ kind: "deploy", deploy: message });
        break;
      default:
        break;
    }
  }

  function askToken() {
    const form = $("token-form");
    form.hidden = false;
    setStatus("needs a token", "down");
    $("token").focus();
  }

  // -- streams ----------------------------------------------------------------------------

  function drawStreams() {
    const box = $("streams");
    const existing = new Map([...box.querySelectorAll("label")].map((l) => [l.dataset.stream, l]));
    for (const s of known) {
      let label = existing.get(s.name);
      if (!label) {
        label = document.createElement("label");
        label.dataset.stream = s.name;
        const input = document.createElement("input");
        input.type = "checkbox";
        input.addEventListener("change", () => {
          if (input.checked) state.streams.add(s.name);
          else state.streams.delete(s.name);
          writeUrl();
          subscribe(false);
        });
        const name = document.createElement("span");
        name.className = "name";
        name.textContent = s.name;
        const rate = document.createElement("span");
        rate.className = "rate";
        label.append(input, name, rate);
        box.append(label);
      }
      label.querySelector("input").checked = state.streams.has(s.name);
      label.querySelector(".rate").textContent = `${formatRate(s.rate)}/s`;
    }
  }

  const formatRate = (r) => (r >= 1000 ? `${(r / 1000).toFixed(1)}k` : `${Math.round(r)}`);

  // -- rendering ----------------------------------------------------------------------------

  function enqueue(item) {
    if (paused) {
      if (pausedQueue.length >= PAUSE_LIMIT) {
        if (item.kind === "line") pausedDropped += 1;
      } else {
        pausedQueue.push(item);
      }
      drawWaiting();
      return;
    }
    renderQueue.push(item);
    if (document.hidden && item.kind === "line") {
      unseen += 1;
      document.title = `(${unseen} new) ${baseTitle}`;
    }
    if (!frameRequested) {
      frameRequested = true;
      requestAnimationFrame(render);
    }
  }

  function notice(level, text) {
    enqueue({ kind: "notice", level, text });
  }

  function atBottom() {
    return log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
  }

  // The page follows new lines until the user scrolls up, and only then: a wheel turned
  // up, a key (PageUp, ArrowUp, Home), a drag of the scrollbar, a touch. Everything else
  // that moves the scroll position (lines arriving, trimming to "Keep", stack traces
  // expanding or collapsing, banners, fonts, resizes) happens while following and is
  // answered by going back to the bottom. Back at the bottom, following resumes.
  let following = true;
  let gestureUntil = 0; // a user's scroll gesture counts until then (ms)
  let dragging = false; // a pointer is held down on the log (its scrollbar, a selection)
  const userScrolls = () => { gestureUntil = performance.now() + 500; };

  // Enough entries to fill a tall window, so the newest chunk alone covers the view.
  const CHUNK_LINES = 80;

  function newChunk() {
    const chunk = document.createElement("div");
    chunk.className = "chunk";
    chunk.lineCount = 0;
    return chunk;
  }

  function render() {
    frameRequested = false;
    const follow = following && !target;
    const items = renderQueue;
    renderQueue = [];
    // Only the last `keep` lines can stay on the page: skip building the rest.
    const start = Math.max(0, items.length - state.keep);
    // Chunks of at most CHUNK_LINES entries: chunks off screen skip layout and paint
    // (content-visibility), so in a burst only the newest chunk, the one at the bottom,
    // is laid out; trimming removes whole chunks.
    let chunk = newChunk();
    for (let i = start; i < items.length; i++) {
      const item = items[i];
      if (item.kind === "line") {
        const entry = lineEntry(item.line);
        if (entry) {
          chunk.append(entry);
          chunk.lineCount += 1;
        }
      } else if (item.kind === "deploy") {
        chunk.append(deployBanner(item.deploy));
        lastEntry = null;
      } else {
        chunk.append(noticeRow(item.level, item.text));
        lastEntry = null;
      }
      // The newest chunk keeps at least CHUNK_LINES entries: it alone fills the view, so
      // the never-drawn chunks above it (their height a guess) stay off screen.
      if (chunk.childElementCount >= CHUNK_LINES && items.length - 1 - i >= CHUNK_LINES) {
        log.append(chunk);
        chunk = newChunk();
      }
    }
    if (chunk.firstChild) log.append(chunk);
    trim();
    if (target) findTarget();
    if (follow) log.scrollTop = log.scrollHeight;
    $("jump").hidden = follow;
  }

  function trim() {
    let first = log.firstElementChild;
    while (first && first !== log.lastElementChild && linesShown - first.lineCount >= state.keep) {
      linesShown -= first.lineCount;
      if (lastEntry && first.contains(lastEntry)) lastEntry = null;
      first.remove();
      first = log.firstElementChild;
    }
    // Then single entries of the oldest chunk, to the exact number.
    while (linesShown > state.keep && first) {
      const entry = first.firstElementChild;
      if (!entry) {
        first.remove();
        first = log.firstElementChild;
        continue;
      }
      const more = entry.querySelector(".more");
      const n = entry.classList.contains("entry") ? 1 + (more ? more.childElementCount : 0) : 0;
      if (entry === lastEntry) lastEntry = null;
      entry.remove();
      first.lineCount -= n;
      linesShown -= n;
    }
  }

  const CONTINUATION = /^(\s+\S|Traceback \(most recent call last\)|Caused by:|\.\.\. \d+ more|During handling of the above exception)/;
  const EXCEPTION_TAIL = /^[A-Za-z_$][\w.$]*(: |:?$)/;

  // A stack trace continues the entry before it (same stream, host and file): a line
  // that is indented, starts a Python traceback, or is the exception line ending one.
  function isContinuation(line) {
    if (!lastEntry) return false;
    const d = lastEntry.dataset;
    if (d.stream !== line.stream || d.host !== line.host || d.file !== line.file) return false;
    if (CONTINUATION.test(line.text)) return true;
    // The exception line ending a Python trace: "module.Name: message" right after
    // an indented frame line.
    const more = lastEntry.querySelector(".more");
    const previous = more && more.lastElementChild;
    return Boolean(previous) && /^\s/.test(previous.querySelector(".text").textContent) &&
      EXCEPTION_TAIL.test(line.text);
  }

  function lineEntry(line) {
    const row = lineRow(line);
    linesShown += 1;
    if (isContinuation(line)) {
      const entry = lastEntry;
      entry.parentElement.lineCount += 1; // its chunk (or the one being built)
      if (!entry.classList.contains("trace")) startTrace(entry);
      entry.querySelector(".more").append(row);
      const toggle = entry.querySelector(".toggle");
      const count = entry.querySelector(".more").childElementCount;
      toggle.dataset.count = String(count);
      toggle.textContent = entry.classList.contains("collapsed") ? `▸ ${count} more lines` : "▾";
      if (levelOf(line.text) > levelOf(entry.dataset.level || "")) classifyEntry(entry, line.text);
      return null;
    }
    const entry = document.createElement("div");
    entry.className = "entry";
    entry.dataset.stream = line.stream;
    entry.dataset.host = line.host;
    entry.dataset.file = line.file;
    entry.append(row);
    classifyEntry(entry, line.text);
    lastEntry = entry;
    return entry;
  }

  // The collapse button and the box for the trace's lines are made only for traces.
  function startTrace(entry) {
    entry.classList.add("trace");
    const toggle = document.createElement("button");
    toggle.type = "button";
    toggle.className = "toggle";
    toggle.title = "Collapse or expand this stack trace";
    toggle.addEventListener("click", () => {
      const collapsed = entry.classList.toggle("collapsed");
      toggle.textContent = collapsed ? `▸ ${toggle.dataset.count} more lines` : "▾";
      if (following) log.scrollTop = log.scrollHeight;
    });
    const more = document.createElement("div");
    more.className = "more";
    entry.append(toggle, more);
  }

  const LEVELS = [
    [/\b(FATAL|CRITICAL|EMERG(ENCY)?|ALERT|PANIC)\b|PHP Fatal error/, "fatal", 4],
    [/\b(ERROR|ERR|SEVERE)\b|Traceback \(most recent call last\)|\bException\b|^\w+(\.\w+)*(Error|Exception)\b/, "error", 3],
    [/\b(WARN|WARNING)\b|PHP Warning/, "warn", 2],
  ];

  function levelOf(text) {
    for (const [re, , rank] of LEVELS) if (re.test(text)) return rank;
    return 0;
  }

  function classifyEntry(entry, text) {
    for (const [re, name] of LEVELS) {
      if (re.test(text)) {
        entry.classList.remove("fatal", "error", "warn");
        entry.classList.add(name);
        entry.dataset.level = text;
        return;
      }
    }
  }

  // Formatting a time is slow (Intl); lines of one second share the text.
  let clockSecond = -1;
  let clockText = "";
  function clock(ts) {
    const second = Math.floor(ts);
    if (second !== clockSecond) {
      clockSecond = second;
      clockText = new Date(second * 1000).toLocaleTimeString([], { hour12: false });
    }
    return clockText;
  }

  const hues = new Map();
  const hue = (s) => {
    const known = hues.get(s);
    if (known !== undefined) return known;
    let h = 0;
    for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
    hues.set(s, h % 360);
    return h % 360;
  };

  function lineRow(line) {
    const row = document.createElement("div");
    row.className = "line";
    row.dataset.key = `${line.stream}:${line.seq}`;
    const time = document.createElement("a");
    time.className = "time";
    time.href = `#line=${encodeURIComponent(line.stream)}:${line.seq}@${epoch}`;
    time.title = "Link to this line";
    time.textContent = clock(line.ts);
    const host = document.createElement("span");
    host.className = "host";
    host.textContent = line.host;
    host.classList.add(`hue${hue(line.host) % 12}`); // a stable colour per host
    const stream = document.createElement("span");
    stream.className = "stream";
    stream.textContent = line.stream;
    const text = document.createElement("span");
    text.className = "text";
    text.title = line.file;
    fillText(text, line.text);
    if (line.truncated) {
      const cut = document.createElement("span");
      cut.className = "truncated";
      cut.textContent = " [truncated]";
      text.append(cut);
    }
    row.append(time, host, stream, text);
    return row;
  }

  const URL_RE = /\bhttps?:\/\/[^\s"'<>]+/g;

  // Text nodes only; <mark> for highlights and <a> for http(s) URLs.
  function fillText(el, text) {
    const marks = [];
    if (highlighter) {
      highlighter.lastIndex = 0;
      let m;
      while ((m = highlighter.exec(text)) !== null) {
        if (m[0].length === 0) {
          highlighter.lastIndex += 1;
          continue;
        }
        marks.push([m.index, m.index + m[0].length]);
      }
    }
    let pos = 0;
    URL_RE.lastIndex = 0;
    const parts = [];
    let u;
    while ((u = URL_RE.exec(text)) !== null) {
      parts.push([pos, u.index, false]);
      parts.push([u.index, u.index + u[0].length, true]);
      pos = u.index + u[0].length;
    }
    parts.push([pos, text.length, false]);
    for (const [from, to, isUrl] of parts) {
      if (from >= to) continue;
      const holder = isUrl ? document.createElement("a") : el;
      if (isUrl) {
        holder.href = text.slice(from, to);
        holder.rel = "noopener noreferrer";
        holder.target = "_blank";
        el.append(holder);
      }
      appendMarked(holder, text, from, to, marks);
    }
  }

  function appendMarked(el, text, from, to, marks) {
    let pos = from;
    for (const [a, b] of marks) {
      if (b <= pos || a >= to) continue;
      const start = Math.max(a, pos);
      const end = Math.min(b, to);
      if (start > pos) el.append(document.createTextNode(text.slice(pos, start)));
      const mark = document.createElement("mark");
      mark.textContent = text.slice(start, end);
      el.append(mark);
      pos = end;
    }
    if (pos < to) el.append(document.createTextNode(text.slice(pos, to)));
  }

  function noticeRow(level, text) {
    const row = document.createElement("div");
    row.className = `notice ${level}`;
    row.setAttribute("role", "status");
    row.textContent = text;
    return row;
  }

  function deployBanner(d) {
    const row = document.createElement("div");
    row.className = "deploy";
    const what = document.createElement("strong");
    what.textContent = d.what || "deploy";
    row.append(what);
    const details = [];
    if (d.who) details.push(`by ${d.who}`);
    if (d.sha) details.push(`sha ${d.sha}`);
    if (d.when) details.push(new Date(d.when * 1000).toLocaleTimeString([], { hour12: false }));
    const span = document.createElement("span");
    span.textContent = ` ${details.join(" · ")} `;
    row.append(span);
    if (typeof d.url === "string" && /^https?:\/\//i.test(d.url)) {
      const link = document.createElement("a");
      link.href = d.url;
      link.rel = "noopener noreferrer";
      link.target = "_blank";
      link.textContent = "details";
      row.append(link);
    }
    return row;
  }

  function findTarget() {
    const el = log.querySelector(`.line[data-key="${CSS.escape(`${target.stream}:${target.seq}`)}"]`);
    if (!el) return;
    el.classList.add("target");
    el.scrollIntoView({ block: "center" });
    following = false;
    target = null;
  }

  // -- pause ------------------------------------------------------------------------------

  function drawWaiting() {
    const waiting = pausedQueue.filter((i) => i.kind === "line").length;
    let text = paused ? `${waiting} waiting` : "";
    if (paused && pausedDropped) text += `, ${pausedDropped} dropped (buffer full)`;
    $("waiting").textContent = text;
  }

  function setPaused(on) {
    paused = on;
    $("pause").textContent = on ? "Resume" : "Pause";
    $("pause").setAttribute("aria-pressed", String(on));
    if (!on) {
      const items = pausedQueue;
      const dropped = pausedDropped;
      pausedQueue = [];
      pausedDropped = 0;
      items.forEach(enqueue);
      if (dropped) notice("drop", `${dropped} lines dropped while paused (the pause buffer holds ${PAUSE_LIMIT}).`);
    }
    drawWaiting();
  }

  // -- wiring ---------------------------------------------------------------------------------

  function onFilterChange(field) {
    state[field] = $(field).value;
    writeUrl();
    if (field === "highlight") {
      highlighter = buildHighlighter();
      return;
    }
    subscribe(false);
  }

  let typing = null;
  for (const field of ["include", "exclude", "highlight"]) {
    $(field).addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => onFilterChange(field), 300);
    });
    $(field).addEventListener("change", () => {
      clearTimeout(typing);
      onFilterChange(field);
    });
  }
  $("case").addEventListener("change", () => {
    state.matchCase = $("case").checked;
    highlighter = buildHighlighter();
    writeUrl();
    subscribe(false);
  });
  $("wrap").addEventListener("change", () => {
    state.wrap = $("wrap").checked;
    log.classList.toggle("nowrap", !state.wrap);
    writeUrl();
  });
  $("keep").addEventListener("change", () => {
    const keep = parseInt($("keep").value, 10);
    if (keep > 0) {
      state.keep = keep;
      trim();
      writeUrl();
    }
  });
  $("pause").addEventListener("click", () => setPaused(!paused));
  $("clear").addEventListener("click", () => {
    log.replaceChildren();
    lastEntry = null;
    linesShown = 0;
  });
  $("jump").addEventListener("click", () => {
    log.scrollTop = log.scrollHeight;
    following = true;
    $("jump").hidden = true;
  });
  log.addEventListener("wheel", (event) => { if (event.deltaY < 0) userScrolls(); },
                      { passive: true });
  log.addEventListener("touchmove", userScrolls, { passive: true });
  log.addEventListener("pointerdown", () => { dragging = true; });
  window.addEventListener("pointerup", () => { dragging = false; });
  log.addEventListener("keydown", (event) => {
    if (["PageUp", "ArrowUp", "Home"].includes(event.key)) userScrolls();
  });
  log.addEventListener("scroll", () => {
    if (atBottom()) {
      following = true;
      $("jump").hidden = true;
    } else if (dragging || performance.now() < gestureUntil) {
      following = false;
      $("jump").hidden = false;
    } else if (following) {
      log.scrollTop = log.scrollHeight; // the page moved under us, not the user
    }
  });
  // Content that changes height without new lines (a trace expanded, fonts loaded) or
  // a resized window: a follower stays at the bottom.
  const stayDown = () => { if (following) log.scrollTop = log.scrollHeight; };
  new ResizeObserver(stayDown).observe(log);
  document.fonts.ready.then(stayDown);
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem("supergrep-token", $("token").value);
    $("token-form").hidden = true;
    if (socket) socket.close();
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) {
      unseen = 0;
      document.title = baseTitle;
    }
  });
  document.addEventListener("keydown", (event) => {
    const typingHere = event.target instanceof HTMLInputElement;
    if (event.key === "/" && !typingHere) {
      event.preventDefault();
      $("include").focus();
    } else if (event.key === " " && !typingHere && !(event.target instanceof HTMLButtonElement)) {
      event.preventDefault();
      setPaused(!paused);
    } else if (event.key === "Escape" && typingHere) {
      event.target.blur();
    }
  });

  readUrl();
  syncControls();
  highlighter = buildHighlighter();
  connect();
})();
