// In-call chat end to end, through the SDK against the real binary: each
// call is placed with {chat: true}, so Chromium opens an RTCDataChannel
// `chat` that switchboard's media plane terminates (SCTP over the call's
// DTLS). Checked by content, both ways: the echo returns a browser's
// message; two browsers in one call reach each other; a browser and a SIP
// party (SIPp, tests/integration/sip/uas_chat.xml) exchange messages, ours
// becoming a MESSAGE in the dialog and the party's coming back on the data
// channel.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { freePort, launchChromium, mintJwt, sippMediaPort, startServer } from './harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BINARY = process.env.SB_BINARY;
const haveSipp = spawnSync('sipp', ['-v']).status !== null;
let server;
let browser;
let uasPort;

const watchdog = setTimeout(() => {
  console.error('e2e chat: watchdog fired');
  process.exit(1);
}, 170000);
watchdog.unref();

before(async () => {
  assert.ok(BINARY, 'SB_BINARY must name the switchboard binary');
  uasPort = await freePort();
  const sipPort = await freePort();
  server = await startServer(BINARY, {
    extra: [
      '[sip]', `listen = udp:127.0.0.1:${sipPort}`,
      '[trunk far]', 'host = 127.0.0.1', `port = ${uasPort}`, 'options_interval = 0',
      '[route echo]', 'destination = echo', 'action = echo',
      '[route out]', 'destination = 7*', 'action = trunk', 'target = far',
      '[route users]', 'destination = *', 'action = user',
      '[media]', 'workers = 2', 'hold_music = silence', '',
    ].join('\n'),
  });
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (server) {
    await server.stop();
    if (process.env.SB_E2E_VERBOSE) console.log(server.log());
    assert.deepEqual(server.exit, { code: 0, signal: null }, server.log().slice(-3000));
  }
  clearTimeout(watchdog);
});

async function newPage() {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(`${server.base}/sdk/test.html`);
  await page.waitForFunction(() => window.Switchboard, null, { timeout: 10000 });
  return page;
}

const url = () => `ws://127.0.0.1:${server.port}/ws`;

// In the page: a Phone in window.t; incoming calls are accepted and their
// chat kept like the outgoing one's.
async function connect({ url, token, register }) {
  const { Phone } = window.Switchboard;
  const phone = new Phone({ url, token });
  window.t = { phone, got: [], open: false, call: null };
  const watch = (call) => {
    window.t.call = call;
    call.on('chatopen', () => { window.t.open = true; });
    call.on('message', ({ text }) => window.t.got.push(text));
  };
  window.t.watch = watch;
  phone.on('incoming', async (call) => {
    watch(call);
    const { stream } = window.sbTone.source(440, undefined, 0.1);
    await call.accept({ stream });
  });
  if (register) await phone.register();
  else await phone.connect();
}

// In the page: dials to with chat and waits for the channel to open.
async function dial({ to }) {
  const { stream } = window.sbTone.source(440, undefined, 0.1);
  const call = window.t.phone.call(to, { stream, chat: true });
  window.t.watch(call);
  const t0 = Date.now();
  while (!window.t.open && Date.now() - t0 < 15000) await new Promise((r) => setTimeout(r, 50));
  return { open: window.t.open, state: call.state };
}

async function waitOpen(page) {
  for (let i = 0; i < 150; i++) {
    if (await page.evaluate(() => window.t.open)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail('the chat channel did not open');
}

async function waitGot(page, n) {
  for (let i = 0; i < 100; i++) {
    const got = await page.evaluate(() => window.t.got);
    if (got.length >= n) return got;
    await new Promise((r) => setTimeout(r, 100));
  }
  return page.evaluate(() => window.t.got);
}

const hangup = (page) => page.evaluate(async () => {
  if (window.t.call && window.t.call.state !== 'ended') await window.t.call.hangup().catch(() => {});
  await window.t.phone.disconnect();
});

test('the echo returns a chat message', { timeout: 40000 }, async () => {
  const page = await newPage();
  await page.evaluate(connect, { url: url(), token: mintJwt({ sub: 'erin', may_dial: ['echo'] }) });
  const r = await page.evaluate(dial, { to: 'echo' });
  assert.ok(r.open, `chat channel open on an echo call: ${JSON.stringify(r)}`);
  const text = 'hello, échos ✓ 1';
  await page.evaluate((t) => window.t.call.sendMessage(t), text);
  assert.deepEqual(await waitGot(page, 1), [text]);
  await hangup(page);
  await page.context().close();
});

test('two browsers in a call chat both ways', { timeout: 60000 }, async () => {
  const bob = await newPage();
  await bob.evaluate(connect, { url: url(), token: mintJwt({ sub: 'bob' }), register: true });
  const alice = await newPage();
  await alice.evaluate(connect, { url: url(), token: mintJwt({ sub: 'alice', may_dial: ['bob'] }) });
  const r = await alice.evaluate(dial, { to: 'bob' });
  assert.ok(r.open, `alice's chat channel open: ${JSON.stringify(r)}`);
  await waitOpen(bob);
  await alice.evaluate(() => window.t.call.sendMessage('hi bob'));
  assert.deepEqual(await waitGot(bob, 1), ['hi bob']);
  await bob.evaluate(() => window.t.call.sendMessage('hi alice, ça va?'));
  assert.deepEqual(await waitGot(alice, 1), ['hi alice, ça va?']);
  await hangup(alice);
  await hangup(bob);
  await alice.context().close();
  await bob.context().close();
});

test('a browser and a SIP party chat: MESSAGE in the dialog both ways',
  { skip: !haveSipp && 'sipp not installed', timeout: 60000 }, async () => {
    let log = '';
    const uas = spawn('sipp', ['-sf', path.resolve(HERE, '../integration/sip/uas_chat.xml'), '-m', '1',
      '-i', '127.0.0.1', '-p', String(uasPort), '-mp', sippMediaPort(), '-rtp_echo', '-nostdin',
      '-timeout', '50s'], { stdio: ['ignore', 'pipe', 'pipe'] });
    uas.stdout.on('data', (d) => { log += d; });
    uas.stderr.on('data', (d) => { log += d; });
    const exited = new Promise((r) => uas.on('exit', r));
    const page = await newPage();
    try {
      await page.evaluate(connect, { url: url(), token: mintJwt({ sub: 'fay', may_dial: ['7*'] }) });
      const r = await page.evaluate(dial, { to: '7000' });
      assert.ok(r.open, `chat channel open toward a SIP party: ${JSON.stringify(r)}\n${log}`);
      await page.evaluate(() => window.t.call.sendMessage('hello from the browser'));
      // The body as the party sent it: SIPp ends its text with CRLF.
      const got = await waitGot(page, 1);
      assert.deepEqual(got.map((m) => m.trim()), ['hello from the far end'], `SIPp: ${log}`);
      assert.equal(got[0], 'hello from the far end\r\n', 'the body is passed on unchanged');
      await hangup(page);
      const code = await Promise.race([exited, new Promise((res) => setTimeout(() => res('timeout'), 15000))]);
      assert.equal(code, 0, `SIPp's scenario passed: ${log}`);
    } finally {
      await hangup(page).catch(() => {});
      if (uas.exitCode === null) uas.kill('SIGKILL');
      await page.context().close();
    }
  });
