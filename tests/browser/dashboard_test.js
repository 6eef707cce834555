// The courier-proxy dashboard in a real browser: Debian's headless Chromium
// driven by playwright-core (no browser download). Starts a proxy with
// --http on free ports and a fresh journal, opens the page, publishes with
// the `courier` CLI, and checks that the table follows: the queue appears
// with its depth, a consumer takes messages, the depth goes down. Saves a
// screenshot. The proxy is stopped by PID whatever happens.
//
// Environment (tests/browser/run.sh sets it): COURIER_PROXY, COURIER_CLI,
// COURIER_BROWSER_DEPS (where `npm ci` put node_modules), COURIER_ARTIFACTS
// (where the screenshot goes), CHROMIUM (default /usr/bin/chromium).
'use strict';

const assert = require('assert');
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const { waitFor, Proxy, courier } = require('./lib');
const { chromium } = require(path.join(process.env.COURIER_BROWSER_DEPS, 'node_modules', 'playwright-core'));

const ARTIFACTS = process.env.COURIER_ARTIFACTS || os.tmpdir();
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const STEP_MS = 15000;  // each expectation on the page: the page polls every second

// The text of one cell of a queue's row, or null while the row is missing.
async function cell(page, queue, field) {
  return page.evaluate(([q, f]) => {
    const row = Array.from(document.querySelectorAll('#queues tbody tr')).find(r => r.dataset.queue === q);
    const td = row && row.querySelector('td[data-field="' + f + '"]');
    return td ? td.textContent : null;
  }, [queue, field]);
}

// DECLAREs n empty queues at once over CQP1 (PROTOCOL.md §3.1), with the
// pyzmq the black-box suites use: n runs of the CLI would take seconds.
function declareQueues(proxy, n, prefix) {
  const script = [
    'import sys, zmq, msgpack',
    's = zmq.Context().socket(zmq.DEALER); s.connect(sys.argv[1])',
    'n = int(sys.argv[2])',
    'for i in range(n): s.send_multipart([b"CQP1", b"DECLARE", msgpack.packb({"q": "%s%03d" % (sys.argv[3], i)})])',
    'for i in range(n): assert s.recv_multipart()[1] == b"DECLARED"',
  ].join('\n');
  execFileSync('/usr/bin/python3', ['-c', script, proxy.endpoint, String(n), prefix], { timeout: 30000 });
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'courier-dashboard-'));
  const proxy = new Proxy(dir);
  let browser;
  try {
    await proxy.start();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    const page = await browser.newPage({ viewport: { width: 1240, height: 760 } });
    const pageErrors = [];
    page.on('pageerror', e => pageErrors.push(String(e)));
    page.on('console', m => { if (m.type() === 'error') pageErrors.push(m.text()); });

    await page.goto(proxy.url);
    await page.waitForFunction(() => document.getElementById('status').textContent === 'live',
                               null, { timeout: STEP_MS });
    assert.strictEqual(await page.locator('#queues tbody tr').count(), 0, 'a fresh proxy has no queues');

    // Publish: the queues appear with their depth.
    const orders = 'orders', emails = 'emails.outbox', audit = 'audit:log';
    courier(proxy, 'publish', orders, ...Array.from({ length: 12 }, (_, i) => JSON.stringify({ order: i })));
    courier(proxy, 'publish', emails, ...Array.from({ length: 5 }, (_, i) => JSON.stringify({ to: i })));
    courier(proxy, 'publish', audit, '"started"');
    await page.waitForFunction(() => document.querySelectorAll('#queues tbody tr').length === 3,
                               null, { timeout: STEP_MS });
    await waitFor('orders depth 12', async () => (await cell(page, orders, 'depth')) === '12', STEP_MS);
    assert.strictEqual(await cell(page, emails, 'depth'), '5');
    assert.strictEqual(await cell(page, audit, 'depth'), '1');
    const names = await page.$$eval('#queues tbody tr', rows => rows.map(r => r.dataset.queue));
    assert.deepStrictEqual(names, [audit, emails, orders], 'rows sorted by name');

    // A few more PUTs over some seconds, so the charts have a shape.
    for (let round = 0; round < 4; round++) {
      courier(proxy, 'publish', orders, ...Array.from({ length: 6 }, (_, i) => JSON.stringify({ more: i })));
      await new Promise(r => setTimeout(r, 900));
    }
    await waitFor('orders depth 36', async () => (await cell(page, orders, 'depth')) === '36', STEP_MS);

    // Consume: the depth goes down.
    courier(proxy, 'consume', orders, '--count', '10');
    await waitFor('orders depth 26 after consuming 10',
                  async () => (await cell(page, orders, 'depth')) === '26', STEP_MS);
    assert.strictEqual(await cell(page, orders, 'inflight'), '0', 'acked, nothing in flight');
    assert.strictEqual(await cell(page, emails, 'depth'), '5', 'other queues untouched');

    // The charts were drawn: the depth chart has a legend entry per queue.
    const legend = await page.$$eval('#depth-legend span', spans => spans.map(s => s.textContent));
    assert.deepStrictEqual(legend.slice().sort(), [audit, emails, orders]);
    await new Promise(r => setTimeout(r, 1500));  // one more poll, so the chart shows the drop
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const shot = path.join(ARTIFACTS, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(fs.statSync(shot).size > 10000, 'screenshot written');

    // Many queues: the table keeps to the 200 deepest and says so.
    declareQueues(proxy, 250, 'bulk.');
    await page.waitForFunction(() => !document.getElementById('more').hidden, null, { timeout: STEP_MS });
    assert.strictEqual(await page.locator('#queues tbody tr').count(), 200);
    assert.strictEqual(await page.textContent('#more'), 'Showing the 200 deepest of 253 queues.');
    assert.strictEqual(await cell(page, orders, 'depth'), '26', 'the deepest queue is still shown');
    assert.deepStrictEqual(pageErrors, [], 'no script errors on the page');
    console.log('dashboard test passed; screenshot: ' + shot);
  } finally {
    if (browser) await browser.close();
    await proxy.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch(e => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
