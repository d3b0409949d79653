// Helpers of the browser tests: start the real switchboard binary on a free
// port with a temporary config, mint HS256 JWTs, a TCP proxy that can drop,
// refuse or black-hole the page's WebSocket, and Chromium through
// playwright-core (Debian's /usr/bin/chromium, never a downloaded browser).

import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import dgram from 'node:dgram';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const WEB_ROOT = process.env.SB_WEB_ROOT || path.resolve(here, '../../web');
// Test-page audio helpers (a tone as the microphone, the strongest frequency
// heard), loaded by web/sdk/test.html and added to blank pages by tests.
export const TONE_JS = path.join(WEB_ROOT, 'sdk', 'tone.js');
export const SECRET = 'e2e-test-secret-0123456789';
export const ADMIN = 'e2e-admin-token';

/* Tries to bind port on loopback with TCP and UDP; resolves whether both
 * were free. */
function bindable(port) {
  return new Promise((resolve) => {
    const t = net.createServer();
    t.once('error', () => resolve(false));
    t.listen(port, '127.0.0.1', () => {
      const u = dgram.createSocket('udp4');
      u.once('error', () => { u.close(); t.close(() => resolve(false)); });
      u.bind(port, '127.0.0.1', () => { u.close(); t.close(() => resolve(true)); });
    });
  });
}

/* A port free for both TCP and UDP on loopback, chosen at random in
 * 12000-19999: below the kernel's ephemeral range (which Chromium, SIPp and
 * every client socket draw from, so a port picked there can be taken
 * before the server binds it) and below the gateway's RTP range. */
export async function freePort() {
  for (;;) {
    const port = 12000 + Math.floor(Math.random() * 8000);
    if (await bindable(port)) return port;
  }
}

/* A media port for SIPp (-mp; it binds this and the next three), at random
 * in 10000-11999, apart from freePort's range and the ephemeral one. */
export const sippMediaPort = () => String(10000 + Math.floor(Math.random() * 500) * 4);

const b64url = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');

/** Mints a compact JWS. `alg` HS256 (default) or none; `secret` overrides. */
export function mintJwt(claims, { alg = 'HS256', secret = SECRET } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const body = { aud: 'switchboard', iat: now, exp: now + 600, ...claims };
  const head = `${b64url({ alg, typ: 'JWT' })}.${b64url(body)}`;
  if (alg === 'none') return `${head}.`;
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}

/** Starts switchboard; resolves once /livez answers. */
export async function startServer(binary, { http = '', extra = '' } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-e2e-'));
  const port = await freePort();
  const conf = path.join(dir, 'sb.conf');
  writeFileSync(conf, [
    '[general]', 'node_name = e2e', `data_dir = ${dir}/var`,
    '[log]', 'level = info', 'format = json',
    '[sip]', 'listen =',
    '[http]', `listen = ws://127.0.0.1:${port}`, `web_root = ${WEB_ROOT}`, `admin_token = ${ADMIN}`, http,
    '[auth]', 'algorithms = HS256', `hs256_secret = ${SECRET}`, 'audience = switchboard', 'leeway = 0s',
    extra,
    '',
  ].join('\n'));
  const logPath = path.join(dir, 'sb.log');
  const proc = spawn(binary, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = [];
  let spawnError = null;
  proc.on('error', (err) => { spawnError = err; });
  proc.stdout.on('data', (d) => log.push(d));
  proc.stderr.on('data', (d) => log.push(d));
  const base = `http://127.0.0.1:${port}`;
  const srv = {
    port, base, proc, dir,
    log: () => Buffer.concat(log).toString(),
    // GET p as JSON; with { method } (POST, DELETE, ...) the admin
    // action's { status, body } (body: parsed JSON, or null when empty).
    async api(p, { method } = {}) {
      const r = await fetch(base + p, { method: method || 'GET', headers: { authorization: `Bearer ${ADMIN}` } });
      if (!method) return r.json();
      const text = await r.text();
      return { status: r.status, body: text ? JSON.parse(text) : null };
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const done = await Promise.race([
          new Promise((r) => proc.once('exit', () => r(true))),
          new Promise((r) => setTimeout(() => r(false), 5000)),
        ]);
        if (!done) {
          proc.kill('SIGKILL');
          await new Promise((r) => proc.once('exit', r));
        }
      }
      srv.exit = { code: proc.exitCode, signal: proc.signalCode };
      writeFileSync(logPath, srv.log());
      if (!process.env.SB_E2E_KEEP) rmSync(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + 10000;
  for (;;) {
    if (spawnError) throw new Error(`cannot start ${binary}: ${spawnError.message}`);
    if (proc.exitCode !== null) throw new Error(`switchboard exited ${proc.exitCode}: ${srv.log()}`);
    try {
      const r = await fetch(`${base}/livez`);
      if (r.status === 200) return srv;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) {
      await srv.stop();
      throw new Error(`switchboard did not come up: ${srv.log()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A TCP proxy in front of the server: `drop()` closes every connection (both
 * sides, as a broken network would), `refuse` closes new connections at once,
 * `blackhole` keeps sockets open but forwards nothing. `from` is the
 * loopback address new upstream connections come from (the client's address
 * as the server sees it): changing it makes a client that moved.
 */
export async function startProxy(targetPort) {
  const pairs = new Set();
  const proxy = { refuse: false, blackhole: false, accepted: 0, refused: 0, from: '127.0.0.1' };
  const server = net.createServer((client) => {
    if (proxy.refuse) {
      proxy.refused++;
      client.destroy();
      return;
    }
    proxy.accepted++;
    const up = net.connect({ port: targetPort, host: '127.0.0.1', localAddress: proxy.from });
    const pair = { client, up };
    pairs.add(pair);
    const end = () => {
      // A black hole passes nothing on, not even a close: the page's side
      // stays open until drop().
      if (proxy.blackhole) return;
      client.destroy();
      up.destroy();
      pairs.delete(pair);
    };
    client.on('data', (d) => { if (!proxy.blackhole) up.write(d); });
    up.on('data', (d) => { if (!proxy.blackhole) client.write(d); });
    client.on('close', end);
    up.on('close', end);
    client.on('error', end);
    up.on('error', end);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  proxy.port = server.address().port;
  proxy.connections = () => pairs.size;
  proxy.drop = () => {
    for (const { client, up } of pairs) {
      client.resetAndDestroy();
      up.resetAndDestroy();
    }
    pairs.clear();
  };
  proxy.close = () => new Promise((r) => {
    proxy.drop();
    server.close(() => r());
  });
  return proxy;
}

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-dev-shm-usage',
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required',
];

export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: process.env.SB_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30000,
  });
}

export function readJson(p) {
  return JSON.parse(readFileSync(p, 'utf8'));
}

/**
 * Starts the media plane's test harness (tests/integration/media/
 * bridge_harness.c) with args; `until(re, ms)` resolves the first match of
 * re in its stdout so far, waiting up to ms for it.
 */
export function startMediaHarness(binary, args) {
  const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters = [];
  child.stdout.on('data', (d) => {
    out += d;
    for (const w of waiters.splice(0)) w();
  });
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  async function until(re, ms) {
    const end = Date.now() + ms;
    for (;;) {
      const m = out.match(re);
      if (m) return m;
      if (Date.now() > end) throw new Error(`harness: no ${re} in time; stderr:\n${err}`);
      await new Promise((r) => { waiters.push(r); setTimeout(r, 200); });
    }
  }
  return { child, until, exited, log: () => err };
}
