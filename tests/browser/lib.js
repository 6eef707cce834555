// Shared by the browser scripts: free ports, bounded waits, a courier-proxy
// owned by the script (stopped by its PID), and the `courier` CLI.
'use strict';

const assert = require('assert');
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const net = require('net');
const path = require('path');

const PROXY = process.env.COURIER_PROXY;
const CLI = process.env.COURIER_CLI;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(what, fn, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(what + ' not reached within ' + ms + ' ms');
    await new Promise(r => setTimeout(r, 50));
  }
}

// The proxy, owned by this test and stopped by its PID.
class Proxy {
  constructor(dir) {
    this.dir = dir;
    this.portFile = path.join(dir, 'http-port');
    this.log = path.join(dir, 'proxy.log');
  }

  async start() {
    this.endpoint = 'tcp://127.0.0.1:' + (await freePort());
    const out = fs.openSync(this.log, 'a');
    this.proc = spawn(PROXY, ['--listen', this.endpoint, '--data', path.join(this.dir, 'data'),
                              '--http', '127.0.0.1:0', '--http-port-file', this.portFile],
                      { stdio: ['ignore', out, out] });
    this.exited = new Promise(resolve => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
    const address = await waitFor('--http-port-file', () => {
      if (this.proc.exitCode !== null) throw new Error('courier-proxy exited early:\n' + this.logTail());
      return fs.existsSync(this.portFile) && fs.readFileSync(this.portFile, 'utf8').trim();
    });
    this.url = 'http://' + address + '/';
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    process.kill(this.proc.pid, 'SIGTERM');
    const timer = setTimeout(() => process.kill(this.proc.pid, 'SIGKILL'), 5000);
    const { code, signal } = await this.exited;
    clearTimeout(timer);
    assert.strictEqual(code, 0, 'courier-proxy exit ' + code + ' / ' + signal + '\n' + this.logTail());
  }

  logTail() {
    try { return fs.readFileSync(this.log, 'utf8').slice(-3000); } catch (e) { return '(no log)'; }
  }
}

function courier(proxy, ...args) {
  return execFileSync(CLI, [...args, '--proxy', proxy.endpoint, '--timeout', '10'], { encoding: 'utf8' });
}

module.exports = { freePort, waitFor, Proxy, courier };
