// The WebRTC <-> RTP bridge with a real browser: Chromium sends a 660 Hz
// WebAudio tone over WebRTC to the media plane (in the test harness
// tests/integration/media/bridge_harness.c); the media plane relays it,
// without decoding, to a plain RTP leg it offered to an in-process "SIP
// phone", which decodes it (checked: the strongest frequency must be the
// tone's) and sends it back; the browser must hear the tone again, and
// getStats must show packets both ways. The SIP signalling itself is not in
// this test (the SIP component is another branch).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TONE_JS, launchChromium, startMediaHarness } from './harness.mjs';

const HARNESS = process.env.SB_MEDIA_BRIDGE_HARNESS;
const TONE_HZ = 660;
let browser;

const watchdog = setTimeout(() => {
  console.error('e2e bridge: watchdog fired');
  process.exit(1);
}, 90000);
watchdog.unref();

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  clearTimeout(watchdog);
});

// In the page: waits for the remote track, finds the strongest frequency of
// what comes back and reads getStats; closes the peer connection.
async function listen(hz) {
  const { ac, pc } = window.t;
  const t0 = Date.now();
  while (!window.t.remote && Date.now() - t0 < 10000) await new Promise((r) => setTimeout(r, 100));
  if (!window.t.remote) return { error: `no remote track; ice ${pc.iceConnectionState}` };
  const ear = await window.sbTone.listen(ac, window.t.remote);
  const { peakHz, peakDb } = await window.sbTone.waitFor(ear, hz);
  let sent = 0;
  let received = 0;
  (await pc.getStats()).forEach((s) => {
    if (s.type === 'outbound-rtp' && s.kind === 'audio') sent = s.packetsSent;
    if (s.type === 'inbound-rtp' && s.kind === 'audio') received = s.packetsReceived;
  });
  pc.close();
  return { peakHz, peakDb, sent, received, ice: pc.iceConnectionState };
}

const startHarness = (args = ['60']) => startMediaHarness(HARNESS, args);

test('a browser is bridged to a plain RTP leg and the tone makes the round trip',
  { skip: !HARNESS && 'SB_MEDIA_BRIDGE_HARNESS not set', timeout: 60000 }, async () => {
    const h = startHarness();
    try {
      await roundTrip(h);
    } finally {
      h.child.kill();
    }
  });

async function roundTrip(h) {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    page.on('pageerror', (e) => console.error('page error:', e));
    await page.setContent('<html><body>bridge</body></html>');
    await page.addScriptTag({ path: TONE_JS });
    const offer = await page.evaluate(async (hz) => {
      const { ac, stream: mic } = window.sbTone.source(hz);
      const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
      window.t = { ac, pc, remote: null };
      pc.ontrack = (e) => { window.t.remote = e.streams[0] || new MediaStream([e.track]); };
      pc.addTrack(mic.getAudioTracks()[0], mic);
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise((resolve) => {
        if (pc.iceGatheringState === 'complete') return resolve();
        pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
        setTimeout(resolve, 3000);
      });
      return pc.localDescription.sdp;
    }, TONE_HZ);
    h.child.stdin.write(`${offer.trim()}\n.\n`);
    const answer = (await h.until(/^(v=0[\s\S]*?)\n\.\n/m, 10000))[1];
    await page.evaluate(async (sdp) => {
      await window.t.pc.setRemoteDescription({ type: 'answer', sdp });
    }, answer.replace(/\n/g, '\r\n').replace(/\r\r/g, '\r'));
    const result = await page.evaluate(listen, TONE_HZ);
    h.child.stdin.write('quit\n');
    const res = (await h.until(/RESULT packets=(\d+) freq=(\d+) rms=([\d.]+)/, 10000));
    await h.exited;
    await ctx.close();
    console.log(`bridge: phone ${res[0]}; browser sent ${result.sent} received ${result.received} peak ${Math.round(result.peakHz)} Hz ${result.peakDb.toFixed(1)} dB`);
    assert.ok(!result.error, `${result.error}\n${h.log()}`);
    const phonePackets = Number(res[1]);
    const phoneHz = Number(res[2]);
    assert.ok(phonePackets > 50, `the RTP phone got ${phonePackets} packets\n${h.log()}`);
    assert.ok(Math.abs(phoneHz - TONE_HZ) < 20, `the RTP phone hears ${phoneHz} Hz, not the tone\n${h.log()}`);
    assert.ok(Number(res[3]) > 0.01, `the RTP phone hears the tone loud enough: rms ${res[3]}`);
    assert.ok(result.sent > 50, `packets sent ${result.sent}`);
    assert.ok(result.received > 50, `packets received ${result.received}`);
    assert.ok(Math.abs(result.peakHz - TONE_HZ) < 30,
      `the browser hears the ${TONE_HZ} Hz tone back: strongest ${result.peakHz.toFixed(0)} Hz at ${result.peakDb.toFixed(1)} dB`);
    assert.ok(result.peakDb > -60, `audible: ${result.peakDb.toFixed(1)} dB`);
  }

// The other direction of a bridge: a SIP phone calls a browser. The phone
// (in the harness) offers PCMU, the media plane answers it and makes its own
// WebRTC offer to the browser (actpass, its codec first), the browser
// answers; the tone the browser sends must reach the phone (decoded there)
// and come back.
test('the media plane offers to a browser and bridges it to a SIP phone',
  { skip: !HARNESS && 'SB_MEDIA_BRIDGE_HARNESS not set', timeout: 60000 }, async () => {
    const h = startHarness(['60', 'offer']);
    try {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      page.on('pageerror', (e) => console.error('page error:', e));
      await page.setContent('<html><body>offer</body></html>');
      await page.addScriptTag({ path: TONE_JS });
      const offer = (await h.until(/^(v=0[\s\S]*?)\n\.\n/m, 10000))[1];
      assert.match(offer, /a=setup:actpass/);
      assert.match(offer, /m=audio 9 UDP\/TLS\/RTP\/SAVPF 0 /, 'the phone leg\'s PCMU first');
      const answer = await page.evaluate(async ({ sdp, hz }) => {
        const { ac, stream: mic } = window.sbTone.source(hz);
        const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
        window.t = { ac, pc, remote: null };
        pc.ontrack = (e) => { window.t.remote = e.streams[0] || new MediaStream([e.track]); };
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
      assert.match(answer, /a=setup:active/);
      h.child.stdin.write(`${answer.trim()}\n.\n`);
      const result = await page.evaluate(listen, TONE_HZ);
      h.child.stdin.write('quit\n');
      const res = await h.until(/RESULT packets=(\d+) freq=(\d+) rms=([\d.]+)/, 10000);
      await h.exited;
      await ctx.close();
      console.log(`offer: phone ${res[0]}; browser sent ${result.sent} received ${result.received} peak ${Math.round(result.peakHz)} Hz`);
      assert.ok(!result.error, `${result.error}\n${h.log()}`);
      assert.ok(Number(res[1]) > 50, `the phone got ${res[1]} packets\n${h.log()}`);
      assert.ok(Math.abs(Number(res[2]) - TONE_HZ) < 20, `the phone hears ${res[2]} Hz\n${h.log()}`);
      assert.ok(result.received > 50, `browser received ${result.received}`);
      assert.ok(Math.abs(result.peakHz - TONE_HZ) < 30, `the browser hears ${result.peakHz} Hz back`);
    } finally {
      h.child.kill();
    }
  });
