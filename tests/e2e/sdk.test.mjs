// Browser tests of the JavaScript SDK (web/sdk) against the real switchboard
// binary: a page served by switchboard loads the SDK in Chromium, connects,
// authenticates, gets typed errors, and survives dropped sockets by
// reconnecting with backoff and resuming its session.
//
// SB_BINARY names the binary (meson passes it). Everything is bounded in time;
// the server, the proxy and the browser are stopped in `after` even on failure.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launchChromium, mintJwt, startProxy, startServer } from './harness.mjs';

const BINARY = process.env.SB_BINARY;
const T = { timeout: 30000 };

let server;
let proxy;
let browser;
const cleanups = [];

// A last resort if a hook hangs: never outlive the meson timeout.
const watchdog = setTimeout(async () => {
  console.error('e2e: watchdog fired, stopping everything');
  await cleanupAll().catch(() => {});
  process.exit(1);
}, 150000);
watchdog.unref();

/* Runs every cleanup, then throws the first failure (so that `after` fails). */
async function cleanupAll() {
  const errors = [];
  for (const fn of cleanups.splice(0).reverse()) {
    try {
      await fn();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length) throw errors[0];
}

before(async () => {
  assert.ok(BINARY, 'SB_BINARY must name the switchboard binary');
  server = await startServer(BINARY, { http: 'ping_interval = 1s\nidle_timeout = 2s\nresume_window = 30s\nmax_msgs_per_sec = 20\nmax_pending = 8' });
  cleanups.push(async () => {
    await server.stop();
    // SIGTERM must stop it cleanly (exit 0; under ASan also without leaks).
    assert.deepEqual(server.exit, { code: 0, signal: null }, server.log().slice(-3000));
  });
  proxy = await startProxy(server.port);
  cleanups.push(() => proxy.close());
  browser = await launchChromium();
  cleanups.push(() => browser.close());
});

after(async () => {
  if (process.env.SB_E2E_VERBOSE && server) console.log(server.log());
  await cleanupAll();
  clearTimeout(watchdog);
});

/**
 * Opens the test page served by `srv`, with a Phone made in the page whose
 * events are recorded in window.events. getToken mints a fresh token in node
 * (counted in `tokens.count`).
 */
async function openPhone(srv, { wsPort, claims = { sub: 'alice', name: 'Alice Example', may_dial: ['bob', '1*'] }, options = {}, token } = {}) {
  const ctx = await browser.newContext();
  cleanups.push(() => ctx.close().catch(() => {}));
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  const tokens = { count: 0 };
  await page.exposeFunction('mintToken', () => {
    tokens.count++;
    return mintJwt(claims);
  });
  const resp = await page.goto(`${srv.base}/sdk/test.html`);
  assert.equal(resp.status(), 200);
  await page.waitForFunction(() => window.Switchboard, null, { timeout: 10000 });
  await page.evaluate(({ url, options, token }) => {
    const { Phone } = window.Switchboard;
    const opts = { url, ...options };
    if (token) opts.token = token;
    else opts.getToken = () => window.mintToken();
    window.events = [];
    const phone = new Phone(opts);
    window.phone = phone;
    const rec = (name) => (data) => window.events.push({ name, t: Date.now(), state: phone.state, data: data && JSON.parse(JSON.stringify(data)) });
    for (const n of ['connecting', 'connected', 'reconnecting', 'disconnected', 'sessionlost', 'error']) phone.on(n, rec(n));
  }, { url: `ws://127.0.0.1:${wsPort || srv.port}/ws`, options, token });
  return { page, ctx, tokens };
}

const names = (page) => page.evaluate(() => window.events.map((e) => e.name));
const waitEvent = (page, name, count = 1, timeout = 15000) => page.waitForFunction(
  ([n, c]) => window.events.filter((e) => e.name === n).length >= c, [name, count], { timeout });

describe('switchboard serves the SDK', () => {
  test('static SDK files with their content types', T, async () => {
    for (const [p, type] of [['/sdk/index.js', 'javascript'], ['/sdk/index.d.ts', 'application/typescript'], ['/sdk/test.html', 'text/html']]) {
      const r = await fetch(server.base + p);
      assert.equal(r.status, 200, p);
      assert.match(r.headers.get('content-type'), new RegExp(type), p);
    }
  });
});

describe('connect and authenticate', () => {
  test('a valid token gives a session and the identity', T, async () => {
    const { page, ctx, tokens } = await openPhone(server);
    const info = await page.evaluate(() => window.phone.connect());
    assert.match(info.session, /^s-[0-9a-f]{16}$/);
    assert.equal(info.resumed, false);
    assert.deepEqual(info.identity, { user: 'alice', displayName: 'Alice Example', mayDial: ['bob', '1*'] });
    assert.equal(tokens.count, 1);
    assert.deepEqual(await names(page), ['connecting', 'connected']);
    const st = await page.evaluate(async () => ({ state: window.phone.state, ping: await window.phone.ping(), timing: window.phone.timing }));
    assert.equal(st.state, 'connected');
    assert.ok(Math.abs(st.ping.timeMs - Date.now()) < 60000, 'ping returns the server clock');
    assert.deepEqual(st.timing, { pingInterval: 1000, idleTimeout: 2000, resumeWindow: 30000 });
    const conns = await server.api('/api/v1/connections');
    const mine = conns.connections.filter((c) => c.session === info.session);
    assert.equal(mine.length, 1);
    assert.equal(mine[0].user, 'alice');
    await page.evaluate(() => window.phone.disconnect());
    await ctx.close();
  });

  for (const [what, token, code, name] of [
    ['expired', () => mintJwt({ sub: 'alice', exp: Math.floor(Date.now() / 1000) - 120 }), 2001, 'auth_expired'],
    ['signed with another key', () => mintJwt({ sub: 'alice' }, { secret: 'not-the-secret' }), 2006, 'auth_bad_signature'],
    ['alg none', () => mintJwt({ sub: 'alice' }, { alg: 'none' }), 2005, 'auth_algorithm_refused'],
    ['for another audience', () => mintJwt({ sub: 'alice', aud: 'elsewhere' }), 2003, 'auth_bad_audience'],
  ]) {
    test(`a token ${what} is refused with ${name}`, T, async () => {
      const { page, ctx } = await openPhone(server, { token: token() });
      const r = await page.evaluate(async () => {
        try {
          await window.phone.connect();
          return { ok: true };
        } catch (e) {
          return { ok: false, typed: e instanceof window.Switchboard.SwitchboardError, code: e.code, name: e.name, category: e.category, isAuth: e.isAuthError, state: window.phone.state };
        }
      });
      assert.deepEqual(r, { ok: false, typed: true, code, name, category: 'auth', isAuth: true, state: 'disconnected' });
      const evs = await page.evaluate(() => window.events);
      assert.deepEqual(evs.map((e) => e.name), ['connecting', 'disconnected']);
      assert.equal(evs[1].data.error.code, code);
      await ctx.close();
    });
  }
});

describe('requests and calls', () => {
  test('server errors come back typed; calls reach the server', T, async () => {
    const { page, ctx } = await openPhone(server);
    await page.evaluate(() => window.phone.connect());
    const r = await page.evaluate(async () => {
      const out = {};
      try {
        await window.phone.request('no.such.method', {});
      } catch (e) {
        out.unknown = { code: e.code, name: e.name, method: e.method };
      }
      const ended = (call) => new Promise((resolve) => call.on('ended', (d) => resolve({ reason: d.reason, code: d.error && d.error.code, name: d.error && d.error.name, state: call.state })));
      // bob is in may_dial: the call passes validation and gets the engine's answer.
      const bob = window.phone.call('bob');
      out.bob = await ended(bob);
      const carol = window.phone.call('carol');
      out.carol = await ended(carol);
      try {
        window.phone.call('x\r\ny');
      } catch (e) {
        out.unsafe = e.name;
      }
      out.calls = window.phone.calls.length;
      return out;
    });
    assert.deepEqual(r.unknown, { code: 1002, name: 'unknown_method', method: 'no.such.method' });
    // Until the call engine runs, a valid call.dial is answered not_available (protocol 4.2).
    assert.equal(r.bob.reason, 'failed');
    assert.equal(r.bob.state, 'ended');
    assert.ok([3000, 3004].includes(r.bob.code) || r.bob.code >= 10400, `bob: ${JSON.stringify(r.bob)}`);
    assert.deepEqual(r.carol, { reason: 'failed', code: 3002, name: 'not_allowed', state: 'ended' });
    assert.equal(r.unsafe, 'invalid_argument');
    assert.equal(r.calls, 0);
    await page.evaluate(() => window.phone.disconnect());
    await ctx.close();
  });
});

describe('limits', () => {
  test('a burst of requests is paced within the server limits', T, async () => {
    const { page, ctx } = await openPhone(server);
    const info = await page.evaluate(() => window.phone.connect());
    assert.deepEqual(info.limits, { max_frame: 65536, max_msgs_per_sec: 20, max_pending: 8, max_calls: 4 });
    const r = await page.evaluate(async () => {
      const t0 = Date.now();
      const res = await Promise.allSettled(Array.from({ length: 60 }, () => window.phone.request('ping', {}, { timeout: 20000 })));
      return { ok: res.filter((x) => x.status === 'fulfilled').length, errors: res.filter((x) => x.status === 'rejected').map((x) => x.reason.name), ms: Date.now() - t0 };
    });
    assert.deepEqual(r.errors, []);
    assert.equal(r.ok, 60);
    assert.ok(r.ms >= 2000, `60 requests at under 20 a second take over 2 s (took ${r.ms} ms)`);
    const mine = (await server.api('/api/v1/connections')).connections.find((c) => c.session === info.session);
    assert.equal(mine.violations, 0);
    assert.equal(await page.evaluate(() => window.events.filter((e) => e.name === 'error').length), 0);
    await page.evaluate(() => window.phone.disconnect());
    await ctx.close();
  });
});

describe('dropped sockets', () => {
  test('reconnects with exponential backoff and resumes the same session', T, async () => {
    const reconnect = { initialDelay: 200, factor: 2, maxDelay: 5000, jitter: 0.5 };
    const { page, ctx, tokens } = await openPhone(server, { wsPort: proxy.port, options: { reconnect } });
    const info = await page.evaluate(() => window.phone.connect());
    assert.equal(proxy.connections(), 1);
    // The network breaks: the socket is reset and new connections fail for a while.
    proxy.refuse = true;
    proxy.drop();
    await waitEvent(page, 'reconnecting', 4);
    proxy.refuse = false;
    await waitEvent(page, 'connected', 2);
    const evs = await page.evaluate(() => window.events);
    const rec = evs.filter((e) => e.name === 'reconnecting');
    rec.forEach((e, i) => {
      const base = Math.min(reconnect.maxDelay, reconnect.initialDelay * reconnect.factor ** i);
      assert.equal(e.data.attempt, i + 1);
      assert.ok(e.data.delay >= base * (1 - reconnect.jitter) - 1 && e.data.delay <= base, `attempt ${i + 1}: delay ${e.data.delay} outside [${base / 2}, ${base}]`);
      // The first attempt follows the lost socket; later ones follow refused attempts.
      assert.equal(e.data.error.name, i === 0 ? 'connection_lost' : 'connection_failed', JSON.stringify(e.data.error));
      if (i > 0) assert.ok(e.t - rec[i - 1].t >= rec[i - 1].data.delay - 5, 'attempts wait their delay');
    });
    assert.ok(proxy.refused >= 3, `refused ${proxy.refused}`);
    const last = evs.filter((e) => e.name === 'connected').at(-1);
    assert.equal(last.data.resumed, true);
    assert.equal(last.data.session, info.session);
    assert.ok(!evs.some((e) => e.name === 'sessionlost' || e.name === 'disconnected'));
    assert.ok(tokens.count >= 2, 'a fresh token is fetched for the reconnection');
    // The resumed session works, and the server sees it on one connection.
    const after = await page.evaluate(async () => ({ state: window.phone.state, attempt: window.phone.reconnectAttempt, ping: (await window.phone.ping()).timeMs > 0 }));
    assert.deepEqual(after, { state: 'connected', attempt: 0, ping: true });
    const conns = (await server.api('/api/v1/connections')).connections.filter((c) => c.session === info.session);
    assert.equal(conns.length, 1);
    await page.evaluate(() => window.phone.disconnect());
    await ctx.close();
  });

  test('keepalive notices a silent connection and recovers', T, async () => {
    const { page, ctx } = await openPhone(server, { wsPort: proxy.port, options: { reconnect: { initialDelay: 100, jitter: 0 } } });
    const info = await page.evaluate(() => window.phone.connect());
    proxy.blackhole = true; // packets vanish, nothing is closed
    const pending = page.evaluate(() => window.phone.request('ping', {}, { timeout: 10000 }).then(() => 'answered', (e) => e.name));
    await waitEvent(page, 'reconnecting', 1, 10000);
    proxy.blackhole = false;
    proxy.drop(); // the stale sockets are gone for good
    await waitEvent(page, 'connected', 2);
    const evs = await page.evaluate(() => window.events);
    const rec = evs.find((e) => e.name === 'reconnecting');
    const last = evs.filter((e) => e.name === 'connected').at(-1);
    assert.match(rec.data.error.message, /keepalive_timeout/, 'the SDK, not a close, noticed the dead socket');
    assert.equal(last.data.session, info.session);
    assert.equal(last.data.resumed, true);
    assert.equal(await pending, 'connection_lost');
    await page.evaluate(() => window.phone.disconnect());
    await ctx.close();
  });

  test('disconnect() ends the session for good', T, async () => {
    const { page, ctx } = await openPhone(server);
    const info = await page.evaluate(() => window.phone.connect());
    await page.evaluate(() => window.phone.disconnect());
    const evs = await page.evaluate(() => window.events);
    assert.deepEqual(evs.map((e) => e.name), ['connecting', 'connected', 'disconnected']);
    assert.equal(evs[2].data.error, null);
    assert.equal(await page.evaluate(() => window.phone.state), 'disconnected');
    const conns = (await server.api('/api/v1/connections')).connections.filter((c) => c.session === info.session);
    assert.equal(conns.length, 0);
    await ctx.close();
  });

  test('past the resume window a new session starts', T, async () => {
    const short = await startServer(BINARY, { http: 'resume_window = 300ms' });
    cleanups.push(async () => {
      await short.stop();
      assert.deepEqual(short.exit, { code: 0, signal: null }, short.log().slice(-3000));
    });
    const p2 = await startProxy(short.port);
    cleanups.push(() => p2.close());
    const { page, ctx } = await openPhone(short, { wsPort: p2.port, options: { reconnect: { initialDelay: 1000, jitter: 0 } } });
    const info = await page.evaluate(() => window.phone.connect());
    p2.drop();
    await waitEvent(page, 'connected', 2);
    const evs = await page.evaluate(() => window.events);
    assert.deepEqual(evs.map((e) => e.name), ['connecting', 'connected', 'reconnecting', 'sessionlost', 'connected']);
    const lost = evs[3].data;
    assert.equal(lost.session, info.session);
    assert.equal(lost.error.name, 'resume_failed');
    assert.equal(evs[4].data.resumed, false);
    assert.notEqual(evs[4].data.session, info.session);
    await page.evaluate(() => window.phone.disconnect());
    await ctx.close();
  });
});
