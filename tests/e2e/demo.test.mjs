// The newcomer's first calls: switchboard runs with the shipped default config
// (conf/switchboard.conf, only the ports and data directory moved by
// environment overrides), the demo softphone page it serves signs in with the
// development secret, calls `echo`, shows live call quality, hangs up and logs
// the call. Then a phone (SIPp) registers as the default config's 1001; the
// demo page calls it, and it calls the demo page's user.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { freePort, launchChromium, sippMediaPort } from './harness.mjs';

const BINARY = process.env.SB_BINARY;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let proc;
let browser;
let base;
let dir;
let sipPort;
const log = [];
const HERE = path.dirname(fileURLToPath(import.meta.url));
const SIP_DIR = path.resolve(HERE, '../integration/sip');


/* SIPp with a scenario of tests/integration/sip; resolves with its exit code
 * (or 'timeout', after killing it) and its output. */
function sipp(args, ms) {
  const p = spawn('sipp', [...args, '-i', '127.0.0.1', '-m', '1', '-nostdin', '-trace_err'],
    { stdio: ['ignore', 'pipe', 'pipe'], cwd: SIP_DIR });
  let out = '';
  p.stdout.on('data', (d) => { out += d; });
  p.stderr.on('data', (d) => { out += d; });
  const done = new Promise((res) => {
    const t = setTimeout(() => { p.kill('SIGKILL'); res({ code: 'timeout', out }); }, ms);
    p.once('exit', (code) => { clearTimeout(t); res({ code, out }); });
  });
  return { proc: p, done };
}

const PHONE = ['-key', 'phone_user', '1001', '-au', '1001', '-ap', 'change-me-1001'];

const watchdog = setTimeout(() => {
  console.error('e2e demo: watchdog fired');
  if (proc) proc.kill('SIGKILL');
  process.exit(1);
}, 90000);
watchdog.unref();

before(async () => {
  assert.ok(BINARY, 'SB_BINARY must name the switchboard binary');
  const port = await freePort();
  sipPort = await freePort();
  dir = mkdtempSync(path.join(tmpdir(), 'sb-demo-'));
  base = `http://127.0.0.1:${port}`;
  proc = spawn(BINARY, ['-c', 'conf/switchboard.conf'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SWITCHBOARD_HTTP_LISTEN: `ws://127.0.0.1:${port}`, SWITCHBOARD_GENERAL_DATA_DIR: dir, SWITCHBOARD_SIP_LISTEN: `udp:127.0.0.1:${sipPort}` },
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

test('with the default config a phone registers as 1001, the demo page calls it, and it calls the demo page', { timeout: 90000 }, async () => {
  // The phone: one SIPp answers calls and echoes their RTP; another
  // registers 1001 (digest) with the first one as its contact.
  const phonePort = await freePort();
  const answerer = sipp(['-sf', 'uas_echo.xml', '-p', String(phonePort), '-mi', '127.0.0.1', '-mp', sippMediaPort(),
    '-rtp_echo', '-timeout', '60s'], 60000);
  const reg = await sipp(['-sf', 'phone_register.xml', ...PHONE, '-key', 'contact_port', String(phonePort),
    '-p', String(await freePort()), '-timeout', '10s', `127.0.0.1:${sipPort}`], 15000).done;
  assert.equal(reg.code, 0, `1001 registered: ${reg.out.slice(-1500)}`);

  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${base}/demo/`);
  await page.click('#connect');
  await page.waitForSelector('#status.connected', { timeout: 10000 });
  const audioBothWays = async () => {
    await page.waitForFunction(() => document.querySelector('#call-state').textContent === 'active', null, { timeout: 20000 });
    await page.waitForFunction(() => Number(document.querySelector('#q-in').textContent.split(' ')[0]) > 50 &&
      Number(document.querySelector('#q-out').textContent.split(' ')[0]) > 50, null, { timeout: 15000 });
  };

  // The demo page calls the phone: it rings, answers, echoes the page's audio.
  await page.fill('#dest', '1001');
  await page.click('#dial');
  await audioBothWays();
  await page.click('#hangup');
  await page.waitForFunction(() => /1001: hangup/.test(document.querySelector('#calllog').textContent), null, { timeout: 5000 });
  const a = await answerer.done;
  assert.equal(a.code, 0, `the phone answered and saw the BYE: ${a.out.slice(-1500)}`);

  // The phone calls alice (the demo page's user): challenged, authenticated,
  // the page rings, answers; the phone echoes for 8 s and hangs up.
  const caller = sipp(['-sf', 'phone_call.xml', ...PHONE, '-s', 'alice', '-p', String(await freePort()),
    '-mi', '127.0.0.1', '-mp', sippMediaPort(), '-rtp_echo', '-timeout', '40s', `127.0.0.1:${sipPort}`], 45000);
  await page.waitForSelector('#incoming:not([hidden])', { timeout: 15000 }).catch(async (err) => {
    caller.proc.kill('SIGKILL');
    const r = await caller.done;
    throw new Error(`no incoming call on the page (${err.message}); phone: ${r.out.slice(-2500)}; ` +
      `switchboard: ${Buffer.concat(log).toString().slice(-2500)}`);
  });
  assert.match(await page.textContent('#incoming-from'), /1001|Desk phone 1001/);
  await page.click('#accept');
  await audioBothWays();
  const c = await caller.done;
  assert.equal(c.code, 0, `the phone's call was answered and ended by its BYE: ${c.out.slice(-1500)}`);
  await page.waitForFunction(() => document.querySelectorAll('#calllog li').length >= 2, null, { timeout: 5000 });
  assert.deepEqual(errors, []);
  await page.close();
});
