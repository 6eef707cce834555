// Makes docs/img/dashboard.png: a proxy under a few minutes of mixed load
// (a queue worked off in bursts, one nobody consumes, one whose expired
// messages are dead-lettered, one with a live consumer), then a screenshot.
// Not a test; run by hand after changing the dashboard:
//
//   COURIER_PROXY=build/proxy/courier-proxy COURIER_CLI=build/tools/courier \
//   COURIER_BROWSER_DEPS=build/tests/browser node tests/browser/docs_screenshot.js docs/img/dashboard.png [SECONDS]
//
// (COURIER_BROWSER_DEPS: where tests/browser/run.sh ran `npm ci`.)
'use strict';

const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const { Proxy, courier } = require('./lib');
const { chromium } = require(path.join(path.resolve(process.env.COURIER_BROWSER_DEPS), 'node_modules', 'playwright-core'));

const OUT = path.resolve(process.argv[2] || 'dashboard.png');
const SECONDS = Number(process.argv[3] || 150);
const sleep = ms => new Promise(r => setTimeout(r, ms));
const values = (n, key) => Array.from({ length: n }, (_, i) => JSON.stringify({ [key]: i }));

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'courier-docs-shot-'));
  const proxy = new Proxy(dir);
  let browser, consumer;
  try {
    await proxy.start();
    courier(proxy, 'declare', 'payments', '--dead-letter', 'payments.dead');
    consumer = spawn(path.resolve(process.env.COURIER_CLI), ['consume', 'invoices', '--proxy', proxy.endpoint],
                     { stdio: 'ignore' });
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    const page = await browser.newPage({ viewport: { width: 1240, height: 640 } });
    await page.goto(proxy.url);
    for (let t = 0; t < SECONDS; t++) {
      const tick = Date.now();
      courier(proxy, 'publish', 'orders', ...values(20 + Math.round(15 * Math.sin(t / 12)), 'order'));
      courier(proxy, 'publish', 'invoices', ...values(30 + (t % 20), 'invoice'));
      if (t % 3 === 0) courier(proxy, 'publish', 'emails.outbox', ...values(4, 'to'));
      if (t % 4 === 0) courier(proxy, 'publish', 'payments', '--ttl', '3000', ...values(3, 'payment'));
      if (t % 5 === 4) {
        const depth = (await (await fetch(proxy.url + 'api/stats')).json()).queues.orders.depth;
        const take = Math.min(depth, t < SECONDS / 2 ? 60 : 150);
        if (take > 0) courier(proxy, 'consume', 'orders', '--count', String(take));
      }
      await sleep(Math.max(0, 1000 - (Date.now() - tick)));
    }
    await sleep(300);
    fs.mkdirSync(path.dirname(OUT), { recursive: true });
    await page.screenshot({ path: OUT, fullPage: true });
    console.log('wrote ' + OUT);
  } finally {
    if (browser) await browser.close();
    if (consumer && consumer.exitCode === null) process.kill(consumer.pid, 'SIGTERM');
    await proxy.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch(e => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
