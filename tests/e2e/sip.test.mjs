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
import { freePort, launchChromium, mintJwt, startServer } from './harness.mjs';

const BINARY = process.env.SB_BINARY;
const HERE = path.dirname(fileURLToPath(import.meta.url));
const UAS = path.resolve(HERE, '../integration/sip/uas_echo.xml');
const TONE_HZ = 660;
let server;
let browser;
let sipp;
let sippLog = '';

const watchdog = setTimeout(() => {
  console.error('e2e sip: watchdog fired');
  if (sipp) sipp.kill('SIGKILL');
  process.exit(1);
}, 120000);
watchdog.unref();

async function freeUdpPort() {
  const dgram = await import('node:dgram');
  const s = dgram.createSocket('udp4');
  await new Promise((r) => s.bind(0, '127.0.0.1', r));
  const { port } = s.address();
  s.close();
  return port;
}

before(async () => {
  assert.ok(BINARY, 'SB_BINARY must name the switchboard binary');
  const uasPort = await freeUdpPort();
  const mediaPort = 42000 + Math.floor(Math.random() * 2000) * 2;
  sipp = spawn('sipp', ['-sf', UAS, '-i', '127.0.0.1', '-p', String(uasPort), '-mi', '127.0.0.1',
    '-mp', String(mediaPort), '-rtp_echo', '-m', '1', '-nostdin', '-timeout', '60s', '-trace_err'],
  { stdio: ['ignore', 'pipe', 'pipe'], cwd: HERE });
  sipp.stdout.on('data', (d) => { sippLog += d; });
  sipp.stderr.on('data', (d) => { sippLog += d; });
  const sipPort = await freeUdpPort();
  server = await startServer(BINARY, {
    extra: [
      '[sip]', `listen = udp:127.0.0.1:${sipPort}`,
      '[trunk far]', 'host = 127.0.0.1', `port = ${uasPort}`, 'options_interval = 0',
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
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(`${server.base}/sdk/test.html`);
  await page.waitForFunction(() => window.Switchboard, null, { timeout: 10000 });
  const token = mintJwt({ sub: 'alice', may_dial: ['7*'] });
  const r = await page.evaluate(async ({ url, token, hz }) => {
    const { Phone } = window.Switchboard;
    const phone = new Phone({ url, token });
    await phone.connect();
    const ac = new AudioContext();
    const osc = ac.createOscillator();
    osc.frequency.value = hz;
    const dest = ac.createMediaStreamDestination();
    osc.connect(dest);
    osc.start();
    const events = [];
    const call = phone.call('7000', { stream: dest.stream });
    call.on('ringing', () => events.push('ringing'));
    call.on('answered', () => events.push('answered'));
    const remote = await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no answer: ${events}`)), 20000);
      call.on('track', ({ stream }) => { clearTimeout(t); resolve(stream); });
      call.on('ended', ({ reason, error }) => reject(new Error(`ended: ${reason} ${error && error.name}`)));
    });
    const el = new Audio();
    el.muted = true;
    el.srcObject = remote;
    await el.play().catch(() => {});
    await ac.resume();
    const an = ac.createAnalyser();
    an.fftSize = 4096;
    ac.createMediaStreamSource(remote).connect(an);
    const bins = new Float32Array(an.frequencyBinCount);
    let peakHz = 0;
    let peakDb = -Infinity;
    const start = Date.now();
    while (Date.now() - start < 15000) {
      await new Promise((res) => setTimeout(res, 250));
      an.getFloatFrequencyData(bins);
      let best = 0;
      for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
      peakDb = bins[best];
      peakHz = (best * ac.sampleRate) / an.fftSize;
      if (peakDb > -60 && Math.abs(peakHz - hz) < 30 && Date.now() - start > 2000) break;
    }
    const id = call.id;
    await call.hangup();
    await phone.disconnect();
    return { peakHz, peakDb, events, id };
  }, { url: `ws://127.0.0.1:${server.port}/ws`, token, hz: TONE_HZ });

  assert.ok(Math.abs(r.peakHz - TONE_HZ) < 30 && r.peakDb > -60,
    `the far end's echo carries the tone: strongest ${r.peakHz.toFixed(0)} Hz at ${r.peakDb.toFixed(1)} dB; ${r.events}`);
  // SIPp saw the whole dialog: INVITE, ACK, BYE answered, and exits 0.
  const code = await new Promise((res) => {
    if (sipp.exitCode !== null) res(sipp.exitCode);
    const t = setTimeout(() => res('still running'), 10000);
    sipp.once('exit', (c) => { clearTimeout(t); res(c); });
  });
  assert.equal(code, 0, `sipp: ${sippLog.slice(-2000)}`);
  let cdr;
  for (let i = 0; i < 50 && !cdr; i++) {
    cdr = ((await server.api('/api/v1/cdrs?limit=5')).cdrs || []).find((c) => c.call === r.id);
    if (!cdr) await new Promise((res) => setTimeout(res, 100));
  }
  assert.ok(cdr, 'CDR stored');
  assert.equal(cdr.action, 'trunk');
  assert.equal(cdr.disposition, 'answered');
});
