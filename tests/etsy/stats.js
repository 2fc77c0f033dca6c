// Stands in for node statsd's stats.js so that Etsy's own test suite drives our daemon.
// Their configs are JavaScript object literals, evaluated as node statsd evaluates them;
// this writes the result as JSON and runs `monitor statsd` on it, passing its output
// through (the tests wait for "server is up") and forwarding the signal that stops it.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');

const config = eval('(' + fs.readFileSync(process.argv[2], 'utf8') + ')');
const jsonPath = path.join(os.tmpdir(), 'monitor-statsd-' + process.pid + '.json');
fs.writeFileSync(jsonPath, JSON.stringify(config));

const daemon = spawn(
  process.env.OUR_STATSD_PYTHON,
  ['-m', 'monitor.cli', 'statsd', '--config', jsonPath],
  { stdio: 'inherit', cwd: process.env.OUR_STATSD_ROOT }
);
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => daemon.kill(signal));
}
daemon.on('exit', (code) => {
  fs.unlinkSync(jsonPath);
  process.exit(code === null ? 0 : code);
});
