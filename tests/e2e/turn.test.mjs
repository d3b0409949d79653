// A browser that can reach switchboard only through a TURN relay (coturn):
// Chromium's calls use iceTransportPolicy 'relay', so every candidate it
// offers is a relayed one on coturn, and switchboard's ICE must connect to
// it. The echo call's 660 Hz tone must come back (checked by content), and
// getStats must show the selected pair's local candidate as a relay.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, launchChromium, mintJwt, startServer } from './harness.mjs';

const BINARY = process.env.SB_BINARY;
const TONE_HZ = 660;
const haveCoturn = spawnSync('turnserver', ['--version']).status !== null;
let server;
let browser;
let turn;
let turnLog = '';
let turnPort;
let dir;

const watchdog = setTimeout(() => {
  console.error('e2e turn: watchdog fired');
  process.exit(1);
}, 120000);
watchdog.unref();

before(async () => {
  if (!haveCoturn) return;
  assert.ok(BINARY, 'SB_BINARY must name the switchboard binary');
  dir = mkdtempSync(path.join(tmpdir(), 'sb-turn-'));
  turnPort = await freePort();
  const relayMin = 30000 + Math.floor(Math.random() * 200) * 10;
  // Loopback only; relays may reach loopback peers (switchboard here).
  turn = spawn('turnserver', ['-n', '--listening-ip', '127.0.0.1', '--relay-ip', '127.0.0.1',
    '-p', String(turnPort), '--min-port', String(relayMin), '--max-port', String(relayMin + 9),
    '--lt-cred-mech', '--user', 'sb:sb-turn-secret', '--realm', 'switchboard.test',
    '--allow-loopback-peers', '--no-tls', '--no-dtls', '--no-cli', '--no-stun-backward-compatibility',
    '--log-file', 'stdout', '--pidfile', path.join(dir, 'turn.pid'), '--simple-log'],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  turn.stdout.on('data', (d) => { turnLog += d; });
  turn.stderr.on('data', (d) => { turnLog += d; });
  for (let i = 0; i < 100 && !/listener opened|Total General servers/i.test(turnLog); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  server = await startServer(BINARY, {
    extra: '[route echo]\ndestination = echo\naction = echo\n[media]\nworkers = 1\n',
  });
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (turn && turn.exitCode === null) {
    turn.kill('SIGTERM');
    await Promise.race([new Promise((r) => turn.once('exit', r)), new Promise((r) => setTimeout(r, 3000))]);
    if (turn.exitCode === null) turn.kill('SIGKILL');
  }
  if (server) {
    await server.stop();
    assert.deepEqual(server.exit, { code: 0, signal: null }, server.log().slice(-3000));
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
  clearTimeout(watchdog);
});

test('a browser behind a TURN relay (relay-only) calls echo and hears its tone',
  { skip: !haveCoturn && 'coturn not installed', timeout: 60000 }, async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    page.on('pageerror', (e) => console.error('page error:', e));
    await page.goto(`${server.base}/sdk/test.html`);
    await page.waitForFunction(() => window.Switchboard, null, { timeout: 10000 });
    const token = mintJwt({ sub: 'tina', may_dial: ['echo'] });
    const r = await page.evaluate(async ({ url, token, hz, turnUrl }) => {
      const { Phone } = window.Switchboard;
      const phone = new Phone({
        url,
        token,
        rtcConfiguration: {
          iceServers: [{ urls: turnUrl, username: 'sb', credential: 'sb-turn-secret' }],
          iceTransportPolicy: 'relay',
        },
      });
      await phone.connect();
      const { ac, stream: mic } = window.sbTone.source(hz);
      const call = phone.call('echo', { stream: mic });
      const remote = await new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no remote audio; ice ${call.peerConnection && call.peerConnection.iceConnectionState}`)), 20000);
        call.on('track', ({ stream }) => { clearTimeout(t); resolve(stream); });
        call.on('ended', ({ reason }) => reject(new Error(`ended: ${reason}`)));
      });
      const ear = await window.sbTone.listen(ac, remote);
      const heard = await window.sbTone.waitFor(ear, hz, { ms: 15000 });
      const stats = await call.peerConnection.getStats();
      let pair;
      const cands = {};
      stats.forEach((s) => {
        if (s.type === 'local-candidate' || s.type === 'remote-candidate') cands[s.id] = s;
        if (s.type === 'transport' && s.selectedCandidatePairId) pair = s.selectedCandidatePairId;
      });
      let local = null;
      let remoteType = null;
      stats.forEach((s) => {
        if (s.type === 'candidate-pair' && (s.id === pair || (!pair && s.nominated && s.state === 'succeeded'))) {
          local = cands[s.localCandidateId] && cands[s.localCandidateId].candidateType;
          remoteType = cands[s.remoteCandidateId] && cands[s.remoteCandidateId].candidateType;
        }
      });
      await call.hangup();
      await phone.disconnect();
      return { ...heard, local, remoteType };
    }, { url: `ws://127.0.0.1:${server.port}/ws`, token, hz: TONE_HZ, turnUrl: `turn:127.0.0.1:${turnPort}?transport=udp` });
    console.log(`turn: heard ${r.heard} at ${Math.round(r.peakHz)} Hz ${r.peakDb.toFixed(1)} dB; pair ${r.local} -> ${r.remoteType}`);
    assert.equal(r.local, 'relay', `the browser's side of the pair is a TURN relay: ${JSON.stringify(r)}\n${turnLog.slice(-2000)}`);
    assert.ok(r.heard, `the tone came back through the relay: ${JSON.stringify(r)}`);
    assert.match(turnLog, /session|allocation|ALLOCATE/i, 'coturn saw an allocation');
    await ctx.close();
  });
