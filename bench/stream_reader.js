// Live-log viewers for bench/supergrep_stream.py: N connections to supergrep (protocol
// v1 over ws) or to frontail (socket.io 2, as its page connects), for a fixed time.
// Each line carries "<seq> <monotonic ns at write>"; on arrival the reader takes
// process.hrtime (the same CLOCK_MONOTONIC) and keeps the latency. Prints one JSON
// object per viewer: delivered lines, drop notices, latency percentiles.
//
//   node bench/stream_reader.js supergrep|frontail URL VIEWERS SECONDS [NAMESPACE]
"use strict";

const [mode, url, viewersArg, secondsArg, namespace] = process.argv.slice(2);
const viewers = Number(viewersArg);
const seconds = Number(secondsArg);

function makeStats() {
  return { delivered: 0, dropped: 0, notices: 0, latencies: [], first: null, last: null };
}

const STAMPED = /^\d+ (\d+) /;

function onText(stats, text) {
  const found = STAMPED.exec(text);
  if (!found) return; // the file's first line, or a tail notice
  const stamp = found[1];
  const now = process.hrtime.bigint();
  stats.delivered += 1;
  if (stats.first === null) stats.first = now;
  stats.last = now;
  stats.latencies.push(Number(now - BigInt(stamp)) / 1e6);
}

function percentile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const all = [];
for (let i = 0; i < viewers; i++) {
  const stats = makeStats();
  all.push(stats);
  if (mode === "supergrep") {
    const WebSocket = require("ws");
    const ws = new WebSocket(url);
    ws.on("open", () =>
      ws.send(JSON.stringify({ type: "subscribe", streams: ["bench"] }))
    );
    ws.on("message", (raw) => {
      const message = JSON.parse(raw);
      if (message.type === "lines") {
        for (const line of message.lines) onText(stats, line.text);
      } else if (message.type === "dropped") {
        stats.dropped += message.count;
        stats.notices += 1;
      }
    });
  } else {
    const io = require("socket.io-client");
    const socket = io.connect(`${url}/${namespace}`, { transports: ["websocket"] });
    socket.on("line", (line) => onText(stats, String(line)));
  }
}

setTimeout(() => {
  for (const stats of all) {
    const sorted = stats.latencies.sort((a, b) => a - b);
    console.log(
      JSON.stringify({
        delivered: stats.delivered,
        // seconds from the first line received to the last: the rate a viewer saw
        span: stats.first === null ? 0 : Number(stats.last - stats.first) / 1e9,
        dropped: stats.dropped,
        notices: stats.notices,
        p50: percentile(sorted, 50),
        p95: percentile(sorted, 95),
        p99: percentile(sorted, 99),
        max: sorted.length ? sorted[sorted.length - 1] : null,
      })
    );
  }
  process.exit(0);
}, seconds * 1000);
