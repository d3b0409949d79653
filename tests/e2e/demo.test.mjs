// The newcomer's first call: switchboard runs with the shipped default config
// (conf/switchboard.conf, only the port and data directory moved by
// environment overrides), the demo softphone page it serves signs in with the
// development secret, calls `echo`, shows live call quality, hangs up and logs
// the call.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { freePort, launchChromium } from './harness.mjs';

const BINARY = process.env.SB_BINARY;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let proc;
let browser;
let base;
let dir;
const log = [];

const watchdog = setTimeout(() => {
  console.error('e2e demo: watchdog fired');
  if (proc) proc.kill('SIGKILL');
  process.exit(1);
}, 90000);
watchdog.unref();

before(async () => {
  assert.ok(BINARY, 'SB_BINARY must name the switchboard binary');
  const port = await freePort();
  dir = mkdtempSync(path.join(tmpdir(), 'sb-demo-'));
  base = `http://127.0.0.1:${port}`;
  proc = spawn(BINARY, ['-c', 'conf/switchboard.conf'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SWITCHBOARD_HTTP_LISTEN: `ws://127.0.0.1:${port}`, SWITCHBOARD_GENERAL_DATA_DIR: dir },
  });
  proc.stdout.on('data', (d) => log.push(d));
  proc.stderr.on('data', (d) => log.push(d));
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/readyz`)).status === 200) break;
    } catch { /* not up yet */ }
    assert.ok(i < 200 && proc.exitCode === null, `switchboard did not come up: ${Buffer.concat(log)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (proc && proc.exitCode === null) {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
  clearTimeout(watchdog);
  assert.equal(proc.exitCode, 0, Buffer.concat(log).toString().slice(-3000));
});

test('the demo page calls echo with the default config', { timeout: 60000 }, async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${base}/demo/`);
  await page.click('#connect');
  await page.waitForSelector('#status.connected', { timeout: 10000 });
  await page.click('#dial');
  await page.waitForFunction(() => document.querySelector('#call-state').textContent === 'active', null, { timeout: 15000 });
  // Live quality: audio comes back (packets counted by getStats each second).
  await page.waitForFunction(() => /^([1-9]\d*) packets/.test(document.querySelector('#q-in').textContent) &&
    Number(document.querySelector('#q-in').textContent.split(' ')[0]) > 50, null, { timeout: 15000 });
  assert.match(await page.textContent('#q-codec'), /opus/);
  await page.click('#hangup');
  await page.waitForFunction(() => document.querySelector('#calllog li'), null, { timeout: 5000 });
  assert.match(await page.textContent('#calllog'), /echo: hangup/);
  assert.deepEqual(errors, []);
});
