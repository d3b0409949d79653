// A conference room end to end: three Chromium pages load the SDK from
// switchboard and dial `room` (a route with action = conference), each with
// its own WebAudio tone as the microphone (500, 900 and 1400 Hz). The media
// plane decodes each member, mixes and encodes for each the others' audio:
// checked by content, every page must hear the two other tones and not its
// own. The admin API lists the room's three members; the pages get
// call.conference events naming the members. A supervisor mutes one by the
// admin API: the others stop hearing it, it still hears them, and every
// page sees it muted; unmuted, it is heard again. When one hangs up the
// others stop hearing its tone, and its CDR says action conference; one
// kicked by the admin API ends with reason kicked (CDR cause kicked). Then a SIP
// phone (baresip, a 1000 Hz sine, once on PCMU and once on G.722) and a browser meet in the room:
// the browser hears the phone's tone, and what baresip decoded (recorded by
// its sndfile module) holds the browser's.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, launchChromium, mintJwt, sippMediaPort, startServer } from './harness.mjs';

const BINARY = process.env.SB_BINARY;
const TONES = { alice: 500, bob: 900, carol: 1400 };
const haveBaresip = spawnSync('baresip', ['-h']).status !== null;
const seen = new Set(); // phone CDRs already checked
let server;
let sipPort;
let phonePort;
let browser;

const watchdog = setTimeout(() => {
  console.error('e2e conference: watchdog fired');
  process.exit(1);
}, 170000);
watchdog.unref();

before(async () => {
  assert.ok(BINARY, 'SB_BINARY must name the switchboard binary');
  sipPort = await freePort();
  phonePort = await freePort();
  server = await startServer(BINARY, {
    extra: [
      '[sip]', `listen = udp:127.0.0.1:${sipPort}`,
      '[trunk phone]', 'host = 127.0.0.1', `port = ${phonePort}`, 'options_interval = 0',
      '[conference room]', 'max_members = 3',
      '[route room]', 'destination = room', 'action = conference', 'target = room',
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

// In the page: connects, dials room with a tone of hz as the microphone,
// waits for the remote audio and puts an analyser on it. Server events are
// kept in window.t.events.
async function join({ url, token, hz }) {
  const { Phone } = window.Switchboard;
  const phone = new Phone({ url, token });
  const events = [];
  phone.on('event', (name, data) => events.push({ name, data }));
  await phone.connect();
  const { ac, stream: mic } = window.sbTone.source(hz, undefined, 0.25);
  const call = phone.call('room', { stream: mic });
  const remote = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no remote audio')), 20000);
    call.on('track', ({ stream }) => { clearTimeout(t); resolve(stream); });
    call.on('ended', ({ reason, error }) => reject(new Error(`ended: ${reason} ${error && error.name}`)));
  });
  const ear = await window.sbTone.listen(ac, remote);
  window.t = { phone, call, ear, events };
  return call.id;
}

// In the page: the median level of each frequency over ms (a reading every
// 200 ms; the analyser's smoothing is off so each reading is this instant).
async function levels({ freqs, ms }) {
  const { ear } = window.t;
  ear.an.smoothingTimeConstant = 0;
  const reads = freqs.map(() => []);
  for (let t = 0; t < ms; t += 200) {
    await new Promise((r) => setTimeout(r, 200));
    freqs.forEach((hz, i) => reads[i].push(window.sbTone.level(ear, hz)));
  }
  return reads.map((r) => r.sort((a, b) => a - b)[Math.floor(r.length / 2)]);
}

// In the page: the last call.conference event's members.
const lastMemberList = () => {
  const ev = window.t.events.filter((e) => e.name === 'call.conference').pop();
  return ev ? ev.data.members : [];
};

async function waitMuted(page, call, muted) {
  for (let i = 0; i < 100; i++) {
    const m = (await page.evaluate(lastMemberList)).find((x) => x.call === call);
    if (m && m.muted === muted) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`no call.conference with ${call} muted ${muted}: ${JSON.stringify(await page.evaluate(lastMemberList))}`);
}

// In the page: the last call.conference event's member count.
const lastMembers = () => {
  const ev = window.t.events.filter((e) => e.name === 'call.conference').pop();
  return ev ? ev.data.members.length : -1;
};

async function waitMembers(page, n) {
  for (let i = 0; i < 100; i++) {
    if ((await page.evaluate(lastMembers)) === n) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`no call.conference event with ${n} members: ${JSON.stringify(await page.evaluate(() => window.t.events))}`);
}

test('three browsers in a room each hear the two others, not themselves', { timeout: 150000 }, async () => {
  const pages = {};
  const ids = {};
  const url = `ws://127.0.0.1:${server.port}/ws`;
  for (const name of Object.keys(TONES)) {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    page.on('pageerror', (e) => console.error(`${name} page error:`, e));
    await page.goto(`${server.base}/sdk/test.html`);
    await page.waitForFunction(() => window.Switchboard, null, { timeout: 10000 });
    const token = mintJwt({ sub: name, may_dial: ['room'] });
    ids[name] = await page.evaluate(join, { url, token, hz: TONES[name] });
    pages[name] = page;
  }
  for (const page of Object.values(pages)) await waitMembers(page, 3);

  const rooms = await server.api('/api/v1/conferences');
  const room = (rooms.conferences || rooms).find((c) => c.name === 'room');
  assert.ok(room, `room in /api/v1/conferences: ${JSON.stringify(rooms)}`);
  assert.deepEqual(room.members.map((m) => m.call).sort(), Object.values(ids).sort());

  // Each page hears the two other tones, each well above its own.
  const freqs = Object.values(TONES);
  const heard = {};
  await Promise.all(Object.entries(pages).map(async ([name, page]) => {
    heard[name] = await page.evaluate(levels, { freqs, ms: 3000 });
  }));
  for (const [name, db] of Object.entries(heard)) {
    const own = db[freqs.indexOf(TONES[name])];
    const others = freqs.filter((hz) => hz !== TONES[name]).map((hz) => db[freqs.indexOf(hz)]);
    console.log(`${name} hears ${freqs.map((hz, i) => `${hz} Hz ${db[i].toFixed(1)} dB`).join(', ')}`);
    for (const o of others) {
      assert.ok(o > -60, `${name} hears the others: ${JSON.stringify(db)}`);
      assert.ok(o - own > 25, `${name} does not hear itself: own ${own.toFixed(1)} dB, other ${o.toFixed(1)} dB`);
    }
  }

  // A supervisor mutes carol: alice and bob stop hearing her, she still
  // hears them, and every page's room shows her muted.
  const memberPath = (name) => `/api/v1/conferences/room/members/${ids[name]}`;
  let r = await server.api(`${memberPath('carol')}/mute`, { method: 'POST' });
  assert.equal(r.status, 200, JSON.stringify(r));
  assert.equal(r.body.call, ids.carol);
  assert.equal(r.body.muted, true);
  for (const page of Object.values(pages)) await waitMuted(page, ids.carol, true);
  const listed = (await server.api('/api/v1/conferences')).conferences.find((c) => c.name === 'room');
  assert.equal(listed.members.find((m) => m.call === ids.carol).muted, true);
  await new Promise((res) => setTimeout(res, 500));
  const muted = {};
  await Promise.all(Object.entries(pages).map(async ([name, page]) => {
    muted[name] = await page.evaluate(levels, { freqs, ms: 2000 });
  }));
  for (const [name, db] of Object.entries(muted)) {
    console.log(`${name} with carol muted: ${freqs.map((hz, i) => `${hz} Hz ${db[i].toFixed(1)} dB`).join(', ')}`);
  }
  const at = (db, who) => db[freqs.indexOf(TONES[who])];
  for (const name of ['alice', 'bob']) {
    const other = name === 'alice' ? 'bob' : 'alice';
    assert.ok(at(muted[name], other) > -60, `${name} still hears ${other}: ${JSON.stringify(muted[name])}`);
    assert.ok(at(muted[name], other) - at(muted[name], 'carol') > 25,
      `${name} no longer hears muted carol: ${JSON.stringify(muted[name])}`);
  }
  for (const other of ['alice', 'bob']) {
    assert.ok(at(muted.carol, other) > -60, `muted carol still hears ${other}: ${JSON.stringify(muted.carol)}`);
  }
  r = await server.api(`/api/v1/conferences/room/members/c-0000000000000000/mute`, { method: 'POST' });
  assert.equal(r.status, 404, JSON.stringify(r));
  assert.equal(r.body.error.name, 'not_found');
  r = await server.api(`${memberPath('carol')}/unmute`, { method: 'POST' });
  assert.equal(r.status, 200, JSON.stringify(r));
  assert.equal(r.body.muted, false);
  for (const page of Object.values(pages)) await waitMuted(page, ids.carol, false);

  // Alice leaves: the others are told and stop hearing her tone (and bob
  // hears unmuted carol again).
  await pages.alice.evaluate(async () => {
    await window.t.call.hangup();
    await window.t.phone.disconnect();
  });
  await waitMembers(pages.bob, 2);
  await waitMembers(pages.carol, 2);
  await new Promise((r) => setTimeout(r, 1000));
  const after = await pages.bob.evaluate(levels, { freqs, ms: 2000 });
  console.log(`bob after alice left: ${freqs.map((hz, i) => `${hz} Hz ${after[i].toFixed(1)} dB`).join(', ')}`);
  assert.ok(after[freqs.indexOf(TONES.carol)] > -60, `bob still hears carol: ${JSON.stringify(after)}`);
  assert.ok(after[freqs.indexOf(TONES.carol)] - after[freqs.indexOf(TONES.alice)] > 25,
    `bob no longer hears alice: ${JSON.stringify(after)}`);

  // A supervisor kicks bob: his call ends with reason kicked.
  r = await server.api(memberPath('bob'), { method: 'DELETE' });
  assert.equal(r.status, 204, JSON.stringify(r));
  await pages.bob.waitForFunction(() => window.t.call.state === 'ended', null, { timeout: 5000 });
  assert.equal(await pages.bob.evaluate(() => window.t.call.endReason), 'kicked');
  await waitMembers(pages.carol, 1);
  r = await server.api(memberPath('bob'), { method: 'DELETE' });
  assert.equal(r.status, 404, JSON.stringify(r));
  await pages.bob.evaluate(() => window.t.phone.disconnect());
  await pages.carol.evaluate(async () => {
    await window.t.call.hangup();
    await window.t.phone.disconnect();
  });
  let bobCdr;
  for (let i = 0; i < 50 && !bobCdr; i++) {
    const list = await server.api('/api/v1/cdrs?limit=10');
    bobCdr = (list.cdrs || []).find((c) => c.call === ids.bob);
    if (!bobCdr) await new Promise((res) => setTimeout(res, 100));
  }
  assert.ok(bobCdr, `CDR for ${ids.bob}`);
  assert.equal(bobCdr.cause, 'kicked');

  // Alice's CDR: a conference call, answered.
  let cdr;
  for (let i = 0; i < 50 && !cdr; i++) {
    const list = await server.api('/api/v1/cdrs?limit=10');
    cdr = (list.cdrs || []).find((c) => c.call === ids.alice);
    if (!cdr) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(cdr, `CDR for ${ids.alice}`);
  assert.equal(cdr.action, 'conference');
  assert.equal(cdr.target, 'room');
  assert.equal(cdr.disposition, 'answered');

  // The room is gone once empty.
  let left;
  for (let i = 0; i < 50; i++) {
    const r = await server.api('/api/v1/conferences');
    left = (r.conferences || r).find((c) => c.name === 'room');
    if (!left || left.members.length === 0) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.ok(!left || left.members.length === 0, `room empty at the end: ${JSON.stringify(left)}`);
  for (const page of Object.values(pages)) await page.context().close();
});

/* The amplitude of hz in samples (Goertzel), as a fraction of full scale. */
function tone(samples, rate, hz) {
  const w = (2 * Math.PI * hz) / rate;
  const c = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  for (const x of samples) {
    const s0 = x / 32768 + c * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return (2 * Math.sqrt(Math.max(0, s1 * s1 + s2 * s2 - c * s1 * s2))) / samples.length;
}

/* A 16-bit PCM WAV file: {rate, channels, samples (the first channel)}. */
function readWav(file) {
  const b = readFileSync(file);
  let off = 12;
  let fmt;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4);
    const len = b.readUInt32LE(off + 4);
    if (id === 'fmt ') fmt = { channels: b.readUInt16LE(off + 10), rate: b.readUInt32LE(off + 12) };
    if (id === 'data' && fmt) {
      const n = Math.floor(Math.min(len, b.length - off - 8) / 2 / fmt.channels);
      const samples = new Int16Array(n);
      for (let i = 0; i < n; i++) samples[i] = b.readInt16LE(off + 8 + i * 2 * fmt.channels);
      return { ...fmt, samples };
    }
    off += 8 + len + (len & 1);
  }
  throw new Error(`${file}: no PCM data`);
}

for (const [codec, module] of [['PCMU', 'g711.so'], ['G722', 'g722.so']]) {
test(`a SIP phone (baresip, ${codec}) and a browser in a room hear each other`, {
  skip: !haveBaresip && 'baresip not installed', timeout: 90000,
}, async () => {
  const PHONE_HZ = 1000;
  const BROWSER_HZ = 500;
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-baresip-'));
  const rec = path.join(dir, 'rec');
  mkdirSync(rec);
  const rtp = Number(sippMediaPort());
  // ausine makes a 48 kHz stereo sine; baresip resamples it to PCMU's 8 kHz.
  // sndfile records what it decodes (8 kHz mono) under rec/.
  writeFileSync(path.join(dir, 'config'), [
    'poll_method epoll', `sip_listen 127.0.0.1:${phonePort}`, `rtp_ports ${rtp}-${rtp + 3}`,
    'module_path /usr/lib/baresip/modules', `module ${module}`, 'module ausine.so', 'module sndfile.so',
    'module_app account.so', 'module_app menu.so',
    `audio_source ausine,${PHONE_HZ}`, 'ausrc_srate 48000', 'ausrc_channels 2', 'auplay_srate 48000',
    `snd_path ${rec}`, '',
  ].join('\n'));
  writeFileSync(path.join(dir, 'accounts'), `<sip:phone@127.0.0.1:${phonePort}>;regint=0\n`);

  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(`${server.base}/sdk/test.html`);
  await page.waitForFunction(() => window.Switchboard, null, { timeout: 10000 });
  const token = mintJwt({ sub: 'dora', may_dial: ['room'] });
  await page.evaluate(join, { url: `ws://127.0.0.1:${server.port}/ws`, token, hz: BROWSER_HZ });

  let phoneLog = '';
  const phone = spawn('baresip', ['-f', dir, '-e', `/dial sip:room@127.0.0.1:${sipPort}`, '-t', '12'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  phone.stdout.on('data', (d) => { phoneLog += d; });
  phone.stderr.on('data', (d) => { phoneLog += d; });
  const exited = new Promise((r) => phone.on('exit', r));
  try {
    await waitMembers(page, 2);
    await new Promise((r) => setTimeout(r, 1000));
    const db = await page.evaluate(levels, { freqs: [BROWSER_HZ, PHONE_HZ], ms: 3000 });
    console.log(`browser hears ${BROWSER_HZ} Hz ${db[0].toFixed(1)} dB, ${PHONE_HZ} Hz ${db[1].toFixed(1)} dB`);
    assert.ok(db[1] > -60, `the browser hears the phone's tone: ${JSON.stringify(db)}\n${phoneLog.slice(-2000)}`);
    assert.ok(db[1] - db[0] > 25, `the browser does not hear itself: ${JSON.stringify(db)}`);
    // baresip hangs up at -t; the browser is told it is alone.
    await exited;
    await waitMembers(page, 1);
  } finally {
    if (phone.exitCode === null) phone.kill('SIGKILL');
    await page.evaluate(async () => {
      await window.t.call.hangup().catch(() => {});
      await window.t.phone.disconnect();
    }).catch(() => {});
    await ctx.close();
  }

  const file = readdirSync(rec).find((f) => f.endsWith('-dec.wav'));
  assert.ok(file, `baresip recorded what it heard: ${readdirSync(rec)}\n${phoneLog.slice(-2000)}`);
  const wav = readWav(path.join(rec, file));
  // The middle of the call: the browser's tone, and not the phone's own.
  const mid = wav.samples.subarray(Math.floor(wav.samples.length * 0.4), Math.floor(wav.samples.length * 0.8));
  const heard = tone(mid, wav.rate, BROWSER_HZ);
  const own = tone(mid, wav.rate, PHONE_HZ);
  console.log(`baresip heard ${wav.samples.length} samples at ${wav.rate} Hz: ${BROWSER_HZ} Hz ${heard.toFixed(4)}, ${PHONE_HZ} Hz ${own.toFixed(4)}`);
  assert.ok(heard > 0.02, `baresip hears the browser's tone: amplitude ${heard}`);
  assert.ok(heard > 20 * own, `baresip does not hear itself: ${BROWSER_HZ} Hz ${heard}, ${PHONE_HZ} Hz ${own}`);

  let cdr;
  for (let i = 0; i < 50 && !cdr; i++) {
    const list = await server.api('/api/v1/cdrs?limit=10');
    cdr = (list.cdrs || []).find((c) => c.caller === 'phone' && !seen.has(c.call));
    if (!cdr) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(cdr, 'CDR of the phone');
  seen.add(cdr.call);
  assert.equal(cdr.action, 'conference');
  assert.equal(cdr.disposition, 'answered');
  const leg = (cdr.legs || [])[0] || {};
  assert.match(leg.codec || '', new RegExp(codec, 'i'), `the phone's leg is on ${codec}: ${JSON.stringify(cdr)}`);
  rmSync(dir, { recursive: true, force: true });
});
}
