// A browser call to a SIP trunk, end to end: Chromium (SDK, 660 Hz WebAudio
// tone) calls 1234, the route sends it to a trunk that is SIPp answering
// with PCMU and echoing every RTP packet (-rtp_echo). Switchboard's media
// plane bridges the browser's WebRTC leg to a plain RTP leg toward SIPp; the
// browser must hear its tone come back (AnalyserNode peak), with packets
// both ways, and the CDR must name the trunk and both codecs: the browser's
// leg is on Opus, the trunk's on PCMU, so the media plane transcodes.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { freePort, launchChromium, mintJwt, sippMediaPort, startServer } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const BINARY = process.env.SB_BINARY;
const TONE_HZ = 660;
const haveSipp = spawnSync('sipp', ['-v']).status !== null;
let server;
let browser;
let sipp;
let sippLog = '';

const watchdog = setTimeout(() => {
  console.error('e2e trunk: watchdog fired');
  process.exit(1);
}, 120000);
watchdog.unref();

before(async () => {
  if (!haveSipp) return;
  assert.ok(BINARY, 'SB_BINARY must name the switchboard binary');
  const sipPort = await freePort();
  const sippPort = await freePort();
  sipp = spawn('sipp', ['-sf', path.join(here, '../integration/sip/uas_echo_pcmu.xml'), '-m', '1', '-i', '127.0.0.1',
    '-p', String(sippPort), '-mp', sippMediaPort(), '-rtp_echo', '-t', 'u1', '-nostdin',
    '-timeout', '90s'], { stdio: ['ignore', 'pipe', 'pipe'] });
  sipp.stdout.on('data', (d) => { sippLog += d; });
  sipp.stderr.on('data', (d) => { sippLog += d; });
  server = await startServer(BINARY, {
    extra: [
      '[sip]', `listen = udp:127.0.0.1:${sipPort}`,
      `[trunk carrier]`, 'host = 127.0.0.1', `port = ${sippPort}`, 'options_interval = 0',
      '[route out]', 'destination = 1*', 'action = trunk', 'target = carrier',
      '[media]', 'workers = 1',
    ].join('\n'),
  });
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (sipp && sipp.exitCode === null) sipp.kill('SIGKILL');
  if (server) {
    await server.stop();
    if (process.env.SB_E2E_VERBOSE) console.log(server.log());
  }
  clearTimeout(watchdog);
});

test('a browser calls a SIP trunk and hears its tone through the RTP leg',
  { skip: !haveSipp && 'sipp not installed', timeout: 60000 }, async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    page.on('pageerror', (e) => console.error('page error:', e));
    const token = mintJwt({ sub: 'alice', name: 'Alice', may_dial: ['*'] });
    await page.goto(`${server.base}/sdk/test.html`);
    await page.waitForFunction(() => window.Switchboard, null, { timeout: 10000 });
    const result = await page.evaluate(async ({ url, token, hz }) => {
      const { Phone } = window.Switchboard;
      const log = [];
      const phone = new Phone({ url, token });
      await phone.connect();
      const { ac, stream: mic } = window.sbTone.source(hz);
      const call = phone.call('1234', { stream: mic });
      call.on('statechange', (s) => log.push(`state:${s}`));
      let remote;
      try {
        remote = await new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('no remote audio')), 20000);
          call.on('track', ({ stream }) => { clearTimeout(t); resolve(stream); });
          call.on('ended', ({ reason, error }) => reject(new Error(`ended: ${reason} ${error && error.name}`)));
        });
      } catch (e) {
        return { error: `${e.message}; ${log.join(' ')}` };
      }
      const ear = await window.sbTone.listen(ac, remote);
      const { peakHz, peakDb } = await window.sbTone.waitFor(ear, hz, { ms: 15000 });
      let sent = 0;
      let received = 0;
      (await call.peerConnection.getStats()).forEach((s) => {
        if (s.type === 'outbound-rtp' && s.kind === 'audio') sent = s.packetsSent;
        if (s.type === 'inbound-rtp' && s.kind === 'audio') received = s.packetsReceived;
      });
      const id = call.id;
      await call.hangup();
      await phone.disconnect();
      return { peakHz, peakDb, sent, received, id, log };
    }, { url: `ws://127.0.0.1:${server.port}/ws`, token, hz: TONE_HZ });
    const diag = () => `\n--- switchboard\n${server.log().slice(-4000)}\n--- sipp\n${sippLog.slice(-2000)}`;
    assert.ok(!result.error, `${result.error}${diag()}`);
    console.log(`trunk: sent ${result.sent} received ${result.received} peak ${Math.round(result.peakHz)} Hz ${result.peakDb.toFixed(1)} dB`);
    assert.ok(result.sent > 50, `packets sent ${result.sent}`);
    assert.ok(result.received > 50, `packets received ${result.received}${diag()}`);
    assert.ok(Math.abs(result.peakHz - TONE_HZ) < 30,
      `the trunk's echo carries the ${TONE_HZ} Hz tone: strongest ${result.peakHz.toFixed(0)} Hz at ${result.peakDb.toFixed(1)} dB${diag()}`);
    assert.ok(result.peakDb > -60, `audible: ${result.peakDb.toFixed(1)} dB`);
    let cdr;
    for (let i = 0; i < 50 && !cdr; i++) {
      const list = await server.api('/api/v1/cdrs?limit=5');
      cdr = (list.cdrs || []).find((c) => c.call === result.id);
      if (!cdr) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(cdr, `CDR for ${result.id}`);
    assert.equal(cdr.action, 'trunk');
    assert.equal(cdr.disposition, 'answered');
    const codecs = (cdr.legs || []).map((l) => l.codec);
    assert.deepEqual(codecs, ['opus', 'PCMU'], 'the browser leg on Opus, the trunk leg on PCMU');
    await ctx.close();
  });
