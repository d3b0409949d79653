// A browser calls a SIP far end through switchboard: Chromium (SDK, WebRTC,
// a 660 Hz tone as its microphone) dials 7000, the dialplan sends it to a
// trunk, and SIPp answers as that trunk with Opus and echoes the RTP it gets.
// The tone must come back to the browser by way of ICE/DTLS-SRTP, the relay to
// plain RTP, SIPp, and the relay back; then the browser hangs up (BYE to
// SIPp) and the CDR is stored.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { SECRET, freePort, launchChromium, mintJwt, sippMediaPort, startServer } from './harness.mjs';

const BINARY = process.env.SB_BINARY;
const HERE = path.dirname(fileURLToPath(import.meta.url));
const TONE_HZ = 660;
let server;
let browser;
let sipp;
let sippLog = '';
let sipPort;

const watchdog = setTimeout(() => {
  console.error('e2e sip: watchdog fired');
  if (sipp) sipp.kill('SIGKILL');
  process.exit(1);
}, 120000);
watchdog.unref();


let uasPort;

/* One SIPp far end on the trunk's port for one call, with its own scenario. */
function startUas(scenario) {
  sippLog = '';
  sipp = spawn('sipp', ['-sf', path.resolve(HERE, '../integration/sip', scenario), '-i', '127.0.0.1',
    '-p', String(uasPort), '-mi', '127.0.0.1', '-mp', sippMediaPort(), '-rtp_echo', '-m', '1',
    '-nostdin', '-timeout', '60s', '-trace_err'], { stdio: ['ignore', 'pipe', 'pipe'], cwd: HERE });
  sipp.stdout.on('data', (d) => { sippLog += d; });
  sipp.stderr.on('data', (d) => { sippLog += d; });
  return sipp;
}

function sippExit(proc, ms = 10000) {
  return new Promise((res) => {
    if (proc.exitCode !== null) return res(proc.exitCode);
    const t = setTimeout(() => { proc.kill('SIGKILL'); res('timeout'); }, ms);
    proc.once('exit', (c) => { clearTimeout(t); res(c); });
  });
}

before(async () => {
  assert.ok(BINARY, 'SB_BINARY must name the switchboard binary');
  uasPort = await freePort();
  sipPort = await freePort();
  server = await startServer(BINARY, {
    extra: [
      '[sip]', `listen = udp:127.0.0.1:${sipPort}`, `trace = ${process.env.SB_E2E_VERBOSE ? 'true' : 'false'}`,
      '[trunk far]', 'host = 127.0.0.1', `port = ${uasPort}`, 'options_interval = 0',
      '[user bob]', 'password = bob-secret',
      '[user carol]', 'password = carol-secret',
      '[route carol]', 'destination = carol', 'action = user', 'target = carol',
      '[route bob]', 'destination = bob', 'action = user', 'target = bob',
      '[route out]', 'destination = 7*', 'action = trunk', 'target = far',
      '[media]', 'workers = 1', '',
    ].join('\n'),
  });
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (server) {
    await server.stop();
    if (process.env.SB_E2E_VERBOSE) console.log(server.log(), sippLog);
  }
  if (sipp && sipp.exitCode === null) sipp.kill('SIGKILL');
  clearTimeout(watchdog);
});

test('a browser calls a SIP far end and hears its audio come back', { timeout: 60000 }, async () => {
  startUas('uas_echo.xml');
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(`${server.base}/sdk/test.html`);
  await page.waitForFunction(() => window.Switchboard, null, { timeout: 10000 });
  const token = mintJwt({ sub: 'alice', may_dial: ['7*'] });
  const r = await page.evaluate(async ({ url, token, hz }) => {
    const { Phone } = window.Switchboard;
    const phone = new Phone({ url, token });
    await phone.connect();
    const { ac, stream: mic } = window.sbTone.source(hz);
    const events = [];
    const call = phone.call('7000', { stream: mic });
    call.on('ringing', () => events.push('ringing'));
    call.on('answered', () => events.push('answered'));
    const remote = await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no answer: ${events}`)), 20000);
      call.on('track', ({ stream }) => { clearTimeout(t); resolve(stream); });
      call.on('ended', ({ reason, error }) => reject(new Error(`ended: ${reason} ${error && error.name}`)));
    });
    const ear = await window.sbTone.listen(ac, remote);
    const { peakHz, peakDb } = await window.sbTone.waitFor(ear, hz, { ms: 15000 });
    const id = call.id;
    await call.hangup();
    await phone.disconnect();
    return { peakHz, peakDb, events, id };
  }, { url: `ws://127.0.0.1:${server.port}/ws`, token, hz: TONE_HZ });

  assert.ok(Math.abs(r.peakHz - TONE_HZ) < 30 && r.peakDb > -60,
    `the far end's echo carries the tone: strongest ${r.peakHz.toFixed(0)} Hz at ${r.peakDb.toFixed(1)} dB; ${r.events}`);
  // SIPp saw the whole dialog: INVITE, ACK, BYE answered, and exits 0.
  assert.equal(await sippExit(sipp), 0, `sipp: ${sippLog.slice(-2000)}`);
  let cdr;
  for (let i = 0; i < 50 && !cdr; i++) {
    cdr = ((await server.api('/api/v1/cdrs?limit=5')).cdrs || []).find((c) => c.call === r.id);
    if (!cdr) await new Promise((res) => setTimeout(res, 100));
  }
  assert.ok(cdr, 'CDR stored');
  assert.equal(cdr.action, 'trunk');
  assert.equal(cdr.disposition, 'answered');
});

// The other direction: the trunk (SIPp, from its configured address) calls
// the browser user bob, whose page answers with a tone; SIPp echoes the RTP,
// so bob must hear the tone; SIPp hangs up after 8 s.
test('a SIP trunk calls a browser user who answers and is heard', { timeout: 60000 }, async () => {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(`${server.base}/sdk/test.html`);
  await page.waitForFunction(() => window.Switchboard, null, { timeout: 10000 });
  const token = mintJwt({ sub: 'bob', name: 'Bob' });
  await page.evaluate(async ({ url, token, hz }) => {
    const { Phone } = window.Switchboard;
    const phone = new Phone({ url, token });
    window.result = { events: [] };
    phone.on('incoming', async (call) => {
      window.result.from = call.remote;
      const { ac, stream: mic } = window.sbTone.source(hz);
      call.on('ended', ({ reason }) => { window.result.ended = reason; });
      call.on('track', async ({ stream }) => {
        const ear = await window.sbTone.listen(ac, stream);
        const r = await window.sbTone.waitFor(ear, hz, { ms: 7000 });
        window.result.peakHz = r.peakHz;
        window.result.peakDb = r.peakDb;
        window.result.done = true;
      });
      await call.accept({ stream: mic });
    });
    await phone.register();
  }, { url: `ws://127.0.0.1:${server.port}/ws`, token, hz: TONE_HZ });

  const uac = spawn('sipp', ['-sf', path.resolve(HERE, '../integration/sip/uac_echo.xml'), '-s', 'bob',
    '-i', '127.0.0.1', '-p', String(await freePort()), '-mi', '127.0.0.1',
    '-mp', sippMediaPort(), '-rtp_echo', '-m', '1', '-nostdin',
    '-timeout', '40s', '-trace_err', `127.0.0.1:${sipPort}`], { stdio: ['ignore', 'pipe', 'pipe'], cwd: HERE });
  let uacLog = '';
  uac.stdout.on('data', (d) => { uacLog += d; });
  uac.stderr.on('data', (d) => { uacLog += d; });
  const code = await new Promise((res) => {
    const t = setTimeout(() => { uac.kill('SIGKILL'); res('timeout'); }, 45000);
    uac.once('exit', (c) => { clearTimeout(t); res(c); });
  });
  await page.waitForFunction(() => window.result.ended, null, { timeout: 10000 }).catch(() => {});
  const r = await page.evaluate(() => window.result);
  assert.equal(code, 0, `sipp uac: ${uacLog.slice(-2000)}`);
  assert.equal(r.from, '15550001');
  assert.ok(Math.abs(r.peakHz - TONE_HZ) < 30 && r.peakDb > -60,
    `bob hears the tone echoed by the trunk: ${r.peakHz} Hz at ${r.peakDb} dB`);
  assert.equal(r.ended, 'remote_hangup');
});

/* Dials dest from a fresh SDK page and returns how the call ended. */
async function dialAndEnd(dest, { hangupAfterRinging = false } = {}) {
  const page = await browser.newPage();
  await page.goto(`${server.base}/sdk/test.html`);
  await page.waitForFunction(() => window.Switchboard, null, { timeout: 10000 });
  const token = mintJwt({ sub: 'alice', may_dial: ['7*'] });
  const r = await page.evaluate(async ({ url, token, dest, hangupAfterRinging }) => {
    const { Phone } = window.Switchboard;
    const phone = new Phone({ url, token });
    await phone.connect();
    const call = phone.call(dest);
    const out = await new Promise((resolve) => {
      const t = setTimeout(() => resolve({ reason: 'no end in 20 s' }), 20000);
      call.on('ringing', () => { if (hangupAfterRinging) setTimeout(() => call.hangup(), 300); });
      call.on('ended', ({ reason, error }) => {
        clearTimeout(t);
        resolve({ reason, error: error && error.name, sip: error && error.sipStatus });
      });
    });
    await phone.disconnect();
    return { ...out, id: call.id };
  }, { url: `ws://127.0.0.1:${server.port}/ws`, token, dest, hangupAfterRinging });
  await page.close();
  return r;
}

async function cdrOf(id) {
  for (let i = 0; i < 50; i++) {
    const c = ((await server.api('/api/v1/cdrs?limit=10')).cdrs || []).find((x) => x.call === id);
    if (c) return c;
    await new Promise((res) => setTimeout(res, 100));
  }
  return null;
}

test('a busy SIP far end reaches the browser as a typed error with the SIP status', { timeout: 60000 }, async () => {
  const uas = startUas('uas_busy.xml');
  const r = await dialAndEnd('7001');
  assert.equal(r.reason, 'failed', JSON.stringify(r));
  assert.equal(r.sip, 486, JSON.stringify(r));
  assert.equal(r.error, 'sip_486_busy_here');
  assert.equal(await sippExit(uas), 0, `sipp: ${sippLog.slice(-2000)}`);
  assert.equal((await cdrOf(r.id)).disposition, 'busy');
});

test('a browser that hangs up while the far end rings cancels the INVITE', { timeout: 60000 }, async () => {
  const uas = startUas('uas_ring_cancel.xml');
  const r = await dialAndEnd('7002', { hangupAfterRinging: true });
  assert.equal(r.reason, 'cancelled', JSON.stringify(r)); /* the SDK's name for it */
  assert.equal(await sippExit(uas), 0, `SIPp saw CANCEL, 487, ACK: ${sippLog.slice(-2000)}`);
  assert.equal((await cdrOf(r.id)).disposition, 'cancelled');
});

test('a number no route matches is refused with its SIP status', { timeout: 30000 }, async () => {
  const page = await browser.newPage();
  await page.goto(`${server.base}/sdk/test.html`);
  await page.waitForFunction(() => window.Switchboard, null, { timeout: 10000 });
  const token = mintJwt({ sub: 'alice', may_dial: ['*'] });
  const r = await page.evaluate(async ({ url, token }) => {
    const phone = new window.Switchboard.Phone({ url, token });
    await phone.connect();
    const call = phone.call('5555');
    const out = await new Promise((resolve) => call.on('ended', ({ reason, error }) =>
      resolve({ reason, error: error && error.name, sip: error && error.sipStatus })));
    await phone.disconnect();
    return out;
  }, { url: `ws://127.0.0.1:${server.port}/ws`, token });
  assert.deepEqual(r, { reason: 'failed', error: 'sip_404_not_found', sip: 404 });
  await page.close();
});

// The demo softphone through SIP: sign in, dial 7003 (the trunk, SIPp with an
// RTP echo), live quality shows audio both ways, hang up, the call log and the
// CDR have it.
test('the demo page calls a SIP far end, shows audio both ways, and the CDR is stored', { timeout: 60000 }, async () => {
  const uas = startUas('uas_echo.xml');
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${server.base}/demo/`);
  await page.evaluate((secret) => { document.querySelector('#secret').value = secret; }, SECRET);
  await page.fill('#dest', '7003');
  await page.click('#connect');
  await page.waitForSelector('#status.connected', { timeout: 10000 });
  await page.click('#dial');
  await page.waitForFunction(() => document.querySelector('#call-state').textContent === 'active', null, { timeout: 15000 });
  const count = (sel) => page.evaluate((s) => Number(document.querySelector(s).textContent.split(' ')[0]) || 0, sel);
  await page.waitForFunction(() => ['#q-in', '#q-out'].every((s) => Number(document.querySelector(s).textContent.split(' ')[0]) > 100), null, { timeout: 15000 });
  assert.ok((await count('#q-in')) > 100 && (await count('#q-out')) > 100, 'getStats: audio both ways');
  const callId = await page.evaluate(() => window.phone.calls[0] && window.phone.calls[0].id);
  await page.click('#hangup');
  await page.waitForFunction(() => document.querySelector('#calllog li'), null, { timeout: 5000 });
  assert.match(await page.textContent('#calllog'), /7003: hangup/);
  assert.equal(await sippExit(uas), 0, `sipp: ${sippLog.slice(-2000)}`);
  const cdr = await cdrOf(callId);
  assert.ok(cdr, 'CDR stored');
  assert.equal(cdr.disposition, 'answered');
  assert.deepEqual(errors, []);
  await page.close();
});

// A phone registered to switchboard is called from a browser: SIPp registers
// carol (digest) with the contact of a second SIPp that answers and echoes;
// the engine finds carol's contact in the location service, the phone
// answers, the browser hears its tone and hangs up (BYE to the phone).
test('a browser calls a phone registered to switchboard', { timeout: 60000 }, async () => {
  const phonePort = await freePort();
  const trunkPort = uasPort;
  uasPort = phonePort;
  const phoneProc = startUas('uas_echo.xml');
  uasPort = trunkPort;
  const reg = spawn('sipp', ['-sf', path.resolve(HERE, '../integration/sip/phone_register.xml'),
    '-key', 'contact_port', String(phonePort), '-key', 'phone_user', 'carol', '-au', 'carol', '-ap', 'carol-secret', '-i', '127.0.0.1', '-p', String(await freePort()),
    '-m', '1', '-nostdin', '-timeout', '10s', `127.0.0.1:${sipPort}`], { stdio: 'ignore', cwd: HERE });
  assert.equal(await sippExit(reg), 0, 'carol registered');
  const page = await browser.newPage();
  await page.goto(`${server.base}/sdk/test.html`);
  await page.waitForFunction(() => window.Switchboard, null, { timeout: 10000 });
  const token = mintJwt({ sub: 'alice', may_dial: ['*'] });
  const r = await page.evaluate(async ({ url, token, hz }) => {
    const phone = new window.Switchboard.Phone({ url, token });
    await phone.connect();
    const { ac, stream: mic } = window.sbTone.source(hz);
    const call = phone.call('carol', { stream: mic });
    const remote = await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no answer')), 20000);
      call.on('track', ({ stream }) => { clearTimeout(t); resolve(stream); });
      call.on('ended', ({ reason, error }) => reject(new Error(`ended: ${reason} ${error && error.name}`)));
    });
    const ear = await window.sbTone.listen(ac, remote);
    const { peakHz, peakDb } = await window.sbTone.waitFor(ear, hz, { ms: 12000 });
    await call.hangup();
    await phone.disconnect();
    return { peakHz, peakDb };
  }, { url: `ws://127.0.0.1:${server.port}/ws`, token, hz: TONE_HZ });
  assert.ok(Math.abs(r.peakHz - TONE_HZ) < 30 && r.peakDb > -60, `tone back from the phone: ${JSON.stringify(r)}`);
  assert.equal(await sippExit(phoneProc), 0, `phone: ${sippLog.slice(-2000)}`);
  await page.close();
});
