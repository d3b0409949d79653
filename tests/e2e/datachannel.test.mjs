// WebRTC data channels for chat with a real browser, through the media
// bridge harness (tests/integration/media/bridge_harness.c): the harness's
// fake engine sends every message the browser sends on its data channel
// back with the chat op, prefixed "echo: ". Chromium opens an
// RTCDataChannel('chat') next to an audio track (its offer then has an
// m=application section BUNDLEd with the audio); three messages, one of
// them non-ASCII UTF-8, must come back prefixed and in order (and binary
// that is UTF-8; binary that is not is dropped and counted), while the
// audio still makes its round trip through the in-process RTP phone. An
// offer without a data channel is answered without m=application. And when
// the media plane offers (a SIP phone calls a browser), its offer carries a
// data channel section the browser can open a channel on; a message sent
// before the channel is open waits for it.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TONE_JS, launchChromium, startMediaHarness } from './harness.mjs';

const HARNESS = process.env.SB_MEDIA_BRIDGE_HARNESS;
const TONE_HZ = 660;
const MESSAGES = ['hello', 'grüße, ça va? 日本語 ✓ 🎉', 'third and last'];
let browser;

const watchdog = setTimeout(() => {
  console.error('e2e datachannel: watchdog fired');
  process.exit(1);
}, 150000);
watchdog.unref();

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  clearTimeout(watchdog);
});

const startHarness = (args = ['60']) => startMediaHarness(HARNESS, args);

const RESULT = /RESULT packets=(\d+) freq=(\d+) rms=([\d.]+) chat_in=(\d+) chat_out=(\d+) chat_dropped=(\d+)/;

// In the page: opens (or waits for) the channel, sends the messages and
// collects what comes back.
async function chat({ messages, create, close, binary, greeting }) {
  const { pc } = window.t;
  const dc = window.t.dc || (create ? pc.createDataChannel('chat') : null);
  if (!dc) return { error: 'no data channel' };
  const got = [];
  dc.onmessage = (e) => got.push(typeof e.data === 'string' ? e.data : '(binary)');
  const t0 = Date.now();
  while (dc.readyState !== 'open' && Date.now() - t0 < 10000) await new Promise((r) => setTimeout(r, 50));
  if (dc.readyState !== 'open') return { error: `channel ${dc.readyState}; ice ${pc.iceConnectionState}` };
  for (const m of messages) dc.send(m);
  let want = messages.length + (greeting ? 1 : 0);
  if (binary) {
    // Binary (PPID 53): text when valid UTF-8, else dropped and counted.
    dc.send(new Uint8Array([0xff, 0xfe, 0x00]));
    dc.send(new TextEncoder().encode(binary));
    want++;
  }
  while (got.length < want && Date.now() - t0 < 15000) await new Promise((r) => setTimeout(r, 50));
  if (!close) return { got, label: dc.label };
  // RFC 8831 section 6.7: closed once the media plane reset its stream too.
  dc.close();
  const t1 = Date.now();
  while (dc.readyState !== 'closed' && Date.now() - t1 < 5000) await new Promise((r) => setTimeout(r, 50));
  return { got, label: dc.label, closed: dc.readyState };
}

// In the page: waits until more than 50 audio packets came in (getStats).
async function audio() {
  const { pc } = window.t;
  const t0 = Date.now();
  let sent = 0;
  let received = 0;
  while (Date.now() - t0 < 10000) {
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'audio') sent = s.packetsSent;
      if (s.type === 'inbound-rtp' && s.kind === 'audio') received = s.packetsReceived;
    });
    if (received > 50) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return { sent, received };
}

// The browser offers (audio, and a data channel when dc); returns the page
// and the harness's answer, set as the remote description.
async function browserOffers(h, dc) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.setContent('<html><body>datachannel</body></html>');
  await page.addScriptTag({ path: TONE_JS });
  const offer = await page.evaluate(async ({ hz, withDc }) => {
    const { ac, stream: mic } = window.sbTone.source(hz);
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    window.t = { ac, pc, dc: withDc ? pc.createDataChannel('chat') : null };
    pc.addTrack(mic.getAudioTracks()[0], mic);
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') return resolve();
      pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
      setTimeout(resolve, 3000);
    });
    return pc.localDescription.sdp;
  }, { hz: TONE_HZ, withDc: dc });
  if (dc) assert.match(offer, /m=application 9 UDP\/DTLS\/SCTP webrtc-datachannel/);
  h.child.stdin.write(`${offer.trim()}\n.\n`);
  const answer = (await h.until(/^(v=0[\s\S]*?)\n\.\n/m, 10000))[1];
  await page.evaluate(async (sdp) => {
    await window.t.pc.setRemoteDescription({ type: 'answer', sdp });
  }, answer.replace(/\n/g, '\r\n').replace(/\r\r/g, '\r'));
  return { ctx, page, answer };
}

// Ends the harness: its RESULT line, and a clean exit (under ASan its
// leak check: usrsctp's state is gone after the media component's free).
async function finish(h) {
  h.child.stdin.write('quit\n');
  const res = await h.until(RESULT, 10000);
  assert.equal(await h.exited, 0, `the harness exits cleanly\n${h.log()}`);
  return res;
}

test('chat over a data channel the browser opened, next to the audio',
  { skip: !HARNESS && 'SB_MEDIA_BRIDGE_HARNESS not set', timeout: 60000 }, async () => {
    const h = startHarness();
    try {
      const { ctx, page, answer } = await browserOffers(h, true);
      const app = answer.match(/m=application (\d+) UDP\/DTLS\/SCTP webrtc-datachannel[\s\S]*/);
      assert.ok(app && app[1] !== '0', `the answer accepts the data channel:\n${answer}`);
      assert.match(app[0], /a=sctp-port:5000/);
      const mms = Number((app[0].match(/a=max-message-size:(\d+)/) || [])[1]);
      assert.ok(mms >= 1024, `max-message-size ${mms}`);
      assert.match(app[0], /a=mid:1/);
      assert.match(answer, /a=group:BUNDLE 0 1/);
      const setups = [...answer.matchAll(/a=setup:(\w+)/g)].map((m) => m[1]);
      assert.equal(new Set(setups).size, 1, `one DTLS role: ${setups}`);
      const r = await page.evaluate(chat, { messages: MESSAGES, close: true, binary: 'binär' });
      const a = await page.evaluate(audio);
      await page.evaluate(() => window.t.pc.close());
      const res = await finish(h);
      await ctx.close();
      console.log(`datachannel: ${JSON.stringify(r.got)}; audio received ${a.received}; ${res[0]}`);
      assert.ok(!r.error, `${r.error}\n${h.log()}`);
      assert.deepEqual(r.got, [...MESSAGES, 'binär'].map((m) => `echo: ${m}`), h.log());
      assert.equal(r.closed, 'closed', 'the channel closes both ways');
      assert.ok(a.received > 50, `audio packets received ${a.received}\n${h.log()}`);
      assert.ok(Number(res[1]) > 50, `the RTP phone got ${res[1]} packets`);
      assert.equal(Number(res[4]), 4, 'chat_in');
      assert.equal(Number(res[5]), 4, 'chat_out');
      assert.equal(Number(res[6]), 1, 'chat_dropped: the binary message that is not UTF-8');
    } finally {
      h.child.kill();
    }
  });

test('an offer without a data channel is answered without one; audio flows',
  { skip: !HARNESS && 'SB_MEDIA_BRIDGE_HARNESS not set', timeout: 60000 }, async () => {
    const h = startHarness();
    try {
      const { ctx, page, answer } = await browserOffers(h, false);
      assert.doesNotMatch(answer, /m=application/);
      const a = await page.evaluate(audio);
      await page.evaluate(() => window.t.pc.close());
      const res = await finish(h);
      await ctx.close();
      assert.ok(a.received > 50, `audio packets received ${a.received}\n${h.log()}`);
      assert.ok(Number(res[1]) > 50, `the RTP phone got ${res[1]} packets`);
      assert.equal(Number(res[4]), 0, 'chat_in');
    } finally {
      h.child.kill();
    }
  });

test('the media plane offers a data channel to a browser, which opens one',
  { skip: !HARNESS && 'SB_MEDIA_BRIDGE_HARNESS not set', timeout: 60000 }, async () => {
    const h = startHarness(['60', 'offer', 'greet']);
    try {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      page.on('pageerror', (e) => console.error('page error:', e));
      await page.setContent('<html><body>offer</body></html>');
      await page.addScriptTag({ path: TONE_JS });
      const offer = (await h.until(/^(v=0[\s\S]*?)\n\.\n/m, 10000))[1];
      assert.match(offer, /m=application 9 UDP\/DTLS\/SCTP webrtc-datachannel/);
      assert.match(offer, /a=sctp-port:5000/);
      assert.match(offer, /a=group:BUNDLE 0 1/);
      const answer = await page.evaluate(async ({ sdp, hz }) => {
        const { ac, stream: mic } = window.sbTone.source(hz);
        const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
        window.t = { ac, pc, dc: null };
        await pc.setRemoteDescription({ type: 'offer', sdp });
        const [tr] = pc.getTransceivers();
        tr.direction = 'sendrecv';
        await tr.sender.replaceTrack(mic.getAudioTracks()[0]);
        await pc.setLocalDescription(await pc.createAnswer());
        await new Promise((resolve) => {
          if (pc.iceGatheringState === 'complete') return resolve();
          pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
          setTimeout(resolve, 3000);
        });
        return pc.localDescription.sdp;
      }, { sdp: offer.replace(/\r?\n/g, '\r\n'), hz: TONE_HZ });
      assert.match(answer, /m=application 9 UDP\/DTLS\/SCTP webrtc-datachannel/);
      h.child.stdin.write(`${answer.trim()}\n.\n`);
      // The harness sends "welcome" at once: it waits for the channel.
      const r = await page.evaluate(chat, { messages: MESSAGES.slice(0, 2), create: true, greeting: true });
      const a = await page.evaluate(audio);
      await page.evaluate(() => window.t.pc.close());
      const res = await finish(h);
      await ctx.close();
      console.log(`offer: ${JSON.stringify(r.got)}; audio received ${a.received}; ${res[0]}`);
      assert.ok(!r.error, `${r.error}\n${h.log()}`);
      assert.deepEqual(r.got, ['welcome', ...MESSAGES.slice(0, 2).map((m) => `echo: ${m}`)], h.log());
      assert.equal(Number(res[5]), 3, 'chat_out');
      assert.ok(a.received > 50, `audio packets received ${a.received}\n${h.log()}`);
    } finally {
      h.child.kill();
    }
  });
