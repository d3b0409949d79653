// The echo test end to end: Chromium (fake devices) loads the SDK from
// switchboard, calls `echo`, and sends a 660 Hz tone made with WebAudio. The
// audio comes back through switchboard's media plane (ICE, DTLS-SRTP, SRTP
// decrypt and re-encrypt) and is checked by content: the strongest frequency
// of what the page hears must be the tone's, and getStats must show packets
// both ways. Then the page hangs up and the CDR is in the store.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchChromium, mintJwt, startProxy, startServer } from './harness.mjs';

const BINARY = process.env.SB_BINARY;
const TONE_HZ = 660;
let server;
let browser;

const watchdog = setTimeout(() => {
  console.error('e2e echo: watchdog fired');
  process.exit(1);
}, 180000);
watchdog.unref();

before(async () => {
  assert.ok(BINARY, 'SB_BINARY must name the switchboard binary');
  server = await startServer(BINARY, {
    extra: '[route echo]\ndestination = echo\naction = echo\n[media]\nworkers = 1\n',
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

test('a browser calls echo and hears its own tone', { timeout: 60000 }, async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  const token = mintJwt({ sub: 'alice', name: 'Alice', may_dial: ['echo'] });
  await page.goto(`${server.base}/sdk/test.html`);
  await page.waitForFunction(() => window.Switchboard, null, { timeout: 10000 });

  const result = await page.evaluate(async ({ url, token, hz }) => {
    const { Phone } = window.Switchboard;
    const log = [];
    const phone = new Phone({ url, token });
    await phone.connect();
    // A pure tone as the microphone.
    const { ac, stream: mic } = window.sbTone.source(hz);
    const call = phone.call('echo', { stream: mic });
    call.on('statechange', (s) => log.push(`state:${s}`));
    const remote = await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no remote audio; ${log.join(' ')}`)), 20000);
      call.on('track', ({ stream }) => { clearTimeout(t); resolve(stream); });
      call.on('ended', ({ reason, error }) => reject(new Error(`ended: ${reason} ${error && error.name}`)));
    });
    // Listen to what comes back: find the strongest frequency. Chromium
    // feeds a remote WebRTC stream to WebAudio only while a media element
    // plays it too.
    const ear = await window.sbTone.listen(ac, remote);
    const { peakHz, peakDb } = await window.sbTone.waitFor(ear, hz, { ms: 15000 });
    const stats = await call.peerConnection.getStats();
    let sent = 0;
    let received = 0;
    stats.forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'audio') sent = s.packetsSent;
      if (s.type === 'inbound-rtp' && s.kind === 'audio') received = s.packetsReceived;
    });
    const id = call.id;
    await call.hangup();
    await phone.disconnect();
    return { peakHz, peakDb, sent, received, id, log };
  }, { url: `ws://127.0.0.1:${server.port}/ws`, token, hz: TONE_HZ });

  assert.ok(result.sent > 50, `packets sent ${result.sent}`);
  assert.ok(result.received > 50, `packets received ${result.received}`);
  assert.ok(Math.abs(result.peakHz - TONE_HZ) < 30,
    `the echo carries the ${TONE_HZ} Hz tone: strongest ${result.peakHz.toFixed(0)} Hz at ${result.peakDb.toFixed(1)} dB`);
  assert.ok(result.peakDb > -60, `the tone is audible: ${result.peakDb.toFixed(1)} dB`);

  // The CDR reaches the store.
  let cdr;
  for (let i = 0; i < 50 && !cdr; i++) {
    const list = await server.api('/api/v1/cdrs?limit=5');
    cdr = (list.cdrs || []).find((c) => c.call === result.id);
    if (!cdr) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(cdr, `CDR for ${result.id}`);
  assert.equal(cdr.action, 'echo');
  assert.equal(cdr.disposition, 'answered');
  await ctx.close();
});

// Hold through the SDK against the real server (call.hold, docs/protocol.md
// section 4): on an echo call the echo itself is held, so while held the
// browser's own tone (1000 Hz here) does not come back; it hears music on
// hold instead ([media] hold_music, the default chime: packets keep coming).
// After the resume its tone comes back, found by its frequency again. Both
// requests must resolve.
test('hold and resume on an echo call: music while held, the tone again after', { timeout: 60000 }, async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  const token = mintJwt({ sub: 'hal', may_dial: ['echo'] });
  await page.goto(`${server.base}/sdk/test.html`);
  await page.waitForFunction(() => window.Switchboard, null, { timeout: 10000 });
  const hz = 1000;
  const r = await page.evaluate(async ({ url, token, hz }) => {
    const { Phone } = window.Switchboard;
    const phone = new Phone({ url, token });
    await phone.connect();
    const { ac, stream: mic } = window.sbTone.source(hz);
    const call = phone.call('echo', { stream: mic });
    const remote = await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no remote audio')), 20000);
      call.on('track', ({ stream }) => { clearTimeout(t); resolve(stream); });
    });
    const ear = await window.sbTone.listen(ac, remote);
    // Each reading is this instant's spectrum: the analyser's smoothing
    // would keep a tone that stopped for seconds (-1.9 dB per reading).
    ear.an.smoothingTimeConstant = 0;
    const before = await window.sbTone.waitFor(ear, hz, { ms: 15000 });
    const received = async () => {
      let n = 0;
      (await call.peerConnection.getStats()).forEach((st) => {
        if (st.type === 'inbound-rtp' && st.kind === 'audio') n = st.packetsReceived;
      });
      return n;
    };
    const holds = [];
    call.on('hold', (e) => holds.push(e));
    await call.hold(true);
    const heldFlag = call.held;
    await new Promise((res) => setTimeout(res, 500));
    const h1 = await received();
    // Our tone must not be heard while held (the analyser every 250 ms).
    let echoedWhileHeld = 0;
    const peaks = [];
    for (let i = 0; i < 8; i++) {
      await new Promise((res) => setTimeout(res, 250));
      const p = window.sbTone.peak(ear);
      peaks.push(`${p.hz.toFixed(0)}Hz/${p.db.toFixed(0)}dB`);
      if (p.db > -60 && Math.abs(p.hz - hz) < 30) echoedWhileHeld++;
    }
    const h2 = await received();
    await call.hold(false);
    const r1 = await received();
    const after = await window.sbTone.waitFor(ear, hz, { ms: 10000, minMs: 500 });
    await new Promise((res) => setTimeout(res, 1000));
    const r2 = await received();
    await call.hangup();
    await phone.disconnect();
    return { before: before.heard, heldFlag, h1, h2, echoedWhileHeld, peaks, r1, r2, after, held: call.held, holds };
  }, { url: `ws://127.0.0.1:${server.port}/ws`, token, hz });
  assert.ok(r.before, 'the tone came back before the hold');
  assert.equal(r.heldFlag, true, 'call.held after hold(true)');
  assert.equal(r.held, false, 'call.held after hold(false)');
  assert.deepEqual(r.holds.map((e) => [e.held, e.remote]), [[true, false], [false, false]]);
  assert.equal(r.echoedWhileHeld, 0, `the tone came back while held: ${r.peaks.join(' ')}; packets ${r.h1} -> ${r.h2}`);
  assert.ok(r.h2 - r.h1 >= 60, `music on hold: ${r.h1} -> ${r.h2} packets in 2 s`);
  assert.ok(r.after.heard, `the tone after the resume: strongest ${r.after.peakHz.toFixed(0)} Hz`);
  assert.ok(r.r2 - r.r1 >= 40, `audio after the resume: ${r.r1} -> ${r.r2}`);
  await ctx.close();
});

async function metric(name) {
  const text = await (await fetch(`${server.base}/metrics`)).text();
  const m = text.match(new RegExp(`^${name} (\\d+)$`, 'm'));
  return m ? Number(m[1]) : NaN;
}

// The offer's a=fingerprint is altered on its way to switchboard (as an
// attacker in the signalling path would): the browser's real certificate no
// longer matches, so the DTLS handshake must be refused, no SRTP key
// installed, no media relayed, and the call must end with a typed error.
test('a certificate that does not match the offered fingerprint is refused', { timeout: 60000 }, async () => {
  const before = { dtls: await metric('switchboard_media_dtls_failed_total'), out: await metric('switchboard_media_rtp_out_total') };
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const token = mintJwt({ sub: 'mallory', may_dial: ['echo'] });
  await page.goto(`${server.base}/sdk/test.html`);
  await page.waitForFunction(() => window.Switchboard, null, { timeout: 10000 });
  const ended = await page.evaluate(async ({ url, token }) => {
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
      // Flip the last hex digit of the fingerprint in call.dial's offer.
      if (typeof data === 'string' && data.includes('"call.dial"')) {
        data = data.replace(/(a=fingerprint:sha-256 [0-9A-F:]*)([0-9A-F])/, (all, head, last) =>
          head + (last === '0' ? '1' : '0'));
      }
      return send.call(this, data);
    };
    const { Phone } = window.Switchboard;
    const phone = new Phone({ url, token });
    await phone.connect();
    const call = phone.call('echo');
    const r = await new Promise((resolve) => {
      const t = setTimeout(() => resolve({ reason: 'still up after 20 s' }), 20000);
      call.on('ended', ({ reason, error }) => { clearTimeout(t); resolve({ reason, error: error && error.name }); });
    });
    await phone.disconnect();
    return r;
  }, { url: `ws://127.0.0.1:${server.port}/ws`, token });
  // Whichever side notices first ends the call: switchboard (media.failed)
  // or the browser, whose DTLS then fails too.
  assert.ok(['failed', 'cancelled'].includes(ended.reason), JSON.stringify(ended));
  let dtls = NaN;
  for (let i = 0; i < 50 && !(dtls > before.dtls); i++) {
    dtls = await metric('switchboard_media_dtls_failed_total');
    if (!(dtls > before.dtls)) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(dtls, before.dtls + 1, 'switchboard refused the handshake');
  assert.equal(await metric('switchboard_media_rtp_out_total'), before.out, 'nothing was relayed');
  await ctx.close();
});

// A dropped WebSocket does not end a call: the socket to switchboard is cut
// mid-call, the SDK reconnects and resumes its session (same session id),
// the call is still there, and the tone still comes back over the media path
// after the resume.
test('a call survives a dropped socket and its audio still flows after the resume', { timeout: 60000 }, async () => {
  const proxy = await startProxy(server.port);
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.exposeFunction('dropSocket', () => proxy.drop());
  await page.goto(`${server.base}/sdk/test.html`);
  await page.waitForFunction(() => window.Switchboard, null, { timeout: 10000 });
  const token = mintJwt({ sub: 'carol', may_dial: ['echo'] });
  const r = await page.evaluate(async ({ url, token, hz }) => {
    const { Phone } = window.Switchboard;
    const phone = new Phone({ url, token, reconnect: { initialDelay: 200, maxDelay: 1000 } });
    const first = await phone.connect();
    const { ac, stream: mic } = window.sbTone.source(hz);
    const call = phone.call('echo', { stream: mic });
    let ended = null;
    call.on('ended', ({ reason }) => { ended = reason; });
    const remote = await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no remote audio')), 20000);
      call.on('track', ({ stream }) => { clearTimeout(t); resolve(stream); });
    });
    const ear = await window.sbTone.listen(ac, remote);
    const hearsTone = async (ms) => (await window.sbTone.waitFor(ear, hz, { ms, minMs: 0 })).heard;
    const before = await hearsTone(8000);
    // Cut the WebSocket, as a flaky network would.
    const resumed = new Promise((res) => phone.on('connected', (e) => res(e)));
    await window.dropSocket();
    const again = await resumed;
    // Audio packets received must keep growing after the resume.
    const received = async () => {
      let n = 0;
      (await call.peerConnection.getStats()).forEach((st) => {
        if (st.type === 'inbound-rtp' && st.kind === 'audio') n = st.packetsReceived;
      });
      return n;
    };
    const n1 = await received();
    await new Promise((res) => setTimeout(res, 2000));
    const after = await hearsTone(4000);
    const n2 = await received();
    const id = call.id;
    const state = call.state;
    const endedBefore = ended;
    await call.hangup();
    await phone.disconnect();
    return { before, after, n1, n2, firstSession: first.session, again: again.session,
      resumed: again.resumed, ended: endedBefore, id, state };
  }, { url: `ws://127.0.0.1:${proxy.port}/ws`, token, hz: TONE_HZ });
  await proxy.close();
  assert.ok(r.before, 'tone heard before the drop');
  assert.equal(r.resumed, true, 'the session was resumed');
  assert.equal(r.again, r.firstSession, 'same session after the resume');
  assert.equal(r.ended, null, 'the call did not end with the socket');
  assert.equal(r.state, 'active');
  assert.ok(r.after, 'tone heard after the resume');
  assert.ok(r.n2 > r.n1 + 50, `audio kept flowing: ${r.n1} -> ${r.n2} packets`);
  await ctx.close();
});

// The same, but the client comes back from another address (the proxy's
// upstream connection moves from 127.0.0.1 to 127.0.0.2, as a phone moving
// from Wi-Fi to cellular would): switchboard restarts ICE, the SDK answers
// its offer, and the tone still comes back, now over the new ICE path. The
// DTLS association is kept: no second handshake.
test('a call resumed from a new address restarts ICE and its audio still flows', { timeout: 90000 }, async () => {
  const before = {
    restarts: await metric('switchboard_media_ice_restarts_total'),
    connected: await metric('switchboard_media_sessions_connected_total'),
    failed: await metric('switchboard_media_sessions_failed_total'),
    direct: await metric('switchboard_media_ice_direct_total'),
  };
  const proxy = await startProxy(server.port);
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.exposeFunction('moveAndDrop', () => {
    proxy.from = '127.0.0.2';
    proxy.drop();
  });
  await page.goto(`${server.base}/sdk/test.html`);
  await page.waitForFunction(() => window.Switchboard, null, { timeout: 10000 });
  const token = mintJwt({ sub: 'dave', may_dial: ['echo'] });
  const r = await page.evaluate(async ({ url, token, hz }) => {
    const { Phone } = window.Switchboard;
    const phone = new Phone({ url, token, reconnect: { initialDelay: 200, maxDelay: 1000 } });
    const first = await phone.connect();
    const { ac, stream: mic } = window.sbTone.source(hz);
    const call = phone.call('echo', { stream: mic });
    const log = [];
    let ended = null;
    call.on('ended', ({ reason }) => { ended = reason; });
    call.on('error', (e) => log.push(`error:${e.name}:${e.message}`));
    call.on('mediastate', (s) => log.push(`media:${s}`));
    const remote = await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no remote audio')), 20000);
      call.on('track', ({ stream }) => { clearTimeout(t); resolve(stream); });
    });
    const ear = await window.sbTone.listen(ac, remote);
    const hearsTone = async (ms) => (await window.sbTone.waitFor(ear, hz, { ms, minMs: 0 })).heard;
    const ufrag = (sdp) => (/a=ice-ufrag:(\S+)/.exec(sdp || '') || [])[1] || null;
    const fingerprint = (sdp) => (/a=fingerprint:(.+)/.exec(sdp || '') || [])[1] || null;
    // The local and remote ends of the selected ICE candidate pair.
    const path = async () => {
      const st = await call.peerConnection.getStats();
      let pair = null;
      st.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = st.get(s.selectedCandidatePairId); });
      if (!pair) return null;
      const l = st.get(pair.localCandidateId);
      const rm = st.get(pair.remoteCandidateId);
      return `${l.address}:${l.port} -> ${rm.address}:${rm.port}`;
    };
    const received = async () => {
      let n = 0;
      (await call.peerConnection.getStats()).forEach((st) => {
        if (st.type === 'inbound-rtp' && st.kind === 'audio') n = st.packetsReceived;
      });
      return n;
    };
    const heardBefore = await hearsTone(8000);
    const server1 = call.peerConnection.remoteDescription.sdp;
    const local1 = call.peerConnection.localDescription.sdp;
    const path1 = await path();
    const resumedEvent = new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error(`no call resumed event; ${log.join(' ')}`)), 20000);
      call.on('resumed', (info) => { clearTimeout(t); res(info); });
    });
    const reconnected = new Promise((res) => phone.on('connected', (e) => res(e)));
    await window.moveAndDrop();
    const again = await reconnected;
    const info = await resumedEvent;
    const server2 = call.peerConnection.remoteDescription.sdp;
    const local2 = call.peerConnection.localDescription.sdp;
    // The new path is checked and nominated: wait until it is selected.
    let path2 = await path();
    for (let i = 0; i < 40 && (path2 === path1 || !path2); i++) {
      await new Promise((res) => setTimeout(res, 250));
      path2 = await path();
    }
    const n1 = await received();
    await new Promise((res) => setTimeout(res, 2000));
    const heardAfter = await hearsTone(4000);
    const n2 = await received();
    const state = call.state;
    const endedBefore = ended;
    await call.hangup();
    await phone.disconnect();
    return {
      heardBefore, heardAfter, n1, n2, info, state, ended: endedBefore, log,
      firstSession: first.session, again: again.session, resumed: again.resumed,
      serverUfrag1: ufrag(server1), serverUfrag2: ufrag(server2),
      localUfrag1: ufrag(local1), localUfrag2: ufrag(local2),
      serverFp1: fingerprint(server1), serverFp2: fingerprint(server2),
      setup2: (/a=setup:(\S+)/.exec(server2) || [])[1],
      path1, path2,
    };
  }, { url: `ws://127.0.0.1:${proxy.port}/ws`, token, hz: TONE_HZ });
  await proxy.close();
  if (process.env.SB_E2E_VERBOSE) console.log(r);
  assert.ok(r.heardBefore, 'tone heard before the move');
  assert.equal(r.resumed, true, 'the session was resumed');
  assert.equal(r.again, r.firstSession, 'same session after the resume');
  assert.deepEqual(r.info, { state: 'answered', iceRestart: true }, JSON.stringify(r.log));
  assert.ok(r.serverUfrag1 && r.serverUfrag2, 'the descriptions carry ICE credentials');
  assert.notEqual(r.serverUfrag2, r.serverUfrag1, 'switchboard offered new ICE credentials');
  assert.notEqual(r.localUfrag2, r.localUfrag1, 'the browser answered with new ICE credentials');
  assert.equal(r.serverFp2, r.serverFp1, 'same DTLS certificate');
  assert.equal(r.setup2, 'actpass', 'the restart offer says actpass');
  assert.ok(r.path1 && r.path2 && r.path2 !== r.path1, `a new ICE path: ${r.path1} then ${r.path2}`);
  assert.equal(r.ended, null, 'the call did not end');
  assert.equal(r.state, 'active');
  assert.ok(r.heardAfter, `tone heard after the ICE restart; ${r.log.join(' ')}`);
  assert.ok(r.n2 > r.n1 + 50, `audio kept flowing: ${r.n1} -> ${r.n2} packets`);
  assert.equal(await metric('switchboard_media_ice_restarts_total'), before.restarts + 1, 'one ICE restart');
  assert.equal(await metric('switchboard_media_sessions_connected_total'), before.connected + 1,
    'one DTLS handshake for the call: none after the ICE restart');
  assert.equal(await metric('switchboard_media_sessions_failed_total'), before.failed, 'no media failure');
  // The worker read the first pair's socket itself, gave it back to libnice
  // for the restart's checks, and took the new pair's once selected.
  assert.ok(await metric('switchboard_media_ice_direct_total') >= before.direct + 2,
    'the selected socket was taken again after the restart');
  await ctx.close();
});

// Consent freshness (RFC 7675) on the socket switchboard reads itself once
// ICE is connected: Chromium sends a consent check every few seconds, marks
// the path unwritable when ~5 go unanswered and fails ICE after 30 s. A
// 35 s call must stay connected with audio flowing to its end, and
// switchboard must have answered the checks itself.
test('a call longer than the consent timeout stays up: its consent checks are answered', { timeout: 90000 }, async () => {
  const before = {
    direct: await metric('switchboard_media_ice_direct_total'),
    answered: await metric('switchboard_media_stun_answered_total'),
  };
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(`${server.base}/sdk/test.html`);
  await page.waitForFunction(() => window.Switchboard, null, { timeout: 10000 });
  const token = mintJwt({ sub: 'erin', may_dial: ['echo'] });
  const r = await page.evaluate(async ({ url, token, hz }) => {
    const { Phone } = window.Switchboard;
    const phone = new Phone({ url, token });
    await phone.connect();
    const { stream: mic } = window.sbTone.source(hz);
    const call = phone.call('echo', { stream: mic });
    let ended = null;
    call.on('ended', ({ reason }) => { ended = reason; });
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no remote audio')), 20000);
      call.on('track', () => { clearTimeout(t); resolve(); });
    });
    const pc = call.peerConnection;
    const states = [pc.iceConnectionState];
    pc.addEventListener('iceconnectionstatechange', () => states.push(pc.iceConnectionState));
    const received = async () => {
      let n = 0;
      (await pc.getStats()).forEach((st) => {
        if (st.type === 'inbound-rtp' && st.kind === 'audio') n = st.packetsReceived;
      });
      return n;
    };
    await new Promise((res) => setTimeout(res, 32000));
    const n1 = await received();
    await new Promise((res) => setTimeout(res, 3000));
    const n2 = await received();
    let responses = 0;
    let requests = 0;
    (await pc.getStats()).forEach((st) => {
      if (st.type === 'candidate-pair' && st.nominated) {
        responses = st.responsesReceived;
        requests = st.requestsSent;
      }
    });
    const state = pc.iceConnectionState;
    const endedBefore = ended;
    await call.hangup();
    await phone.disconnect();
    return { n1, n2, states, state, responses, requests, ended: endedBefore };
  }, { url: `ws://127.0.0.1:${server.port}/ws`, token, hz: TONE_HZ });
  assert.equal(r.ended, null, 'the call did not end');
  assert.equal(r.state, 'connected', `ICE states: ${r.states.join(' ')}`);
  assert.ok(!r.states.includes('disconnected') && !r.states.includes('failed'), `ICE states: ${r.states.join(' ')}`);
  assert.ok(r.n2 > r.n1 + 100, `audio still flowing after 32 s: ${r.n1} -> ${r.n2} packets`);
  // Chromium paces its checks itself (fewer on a loaded machine): each one
  // must be answered but the last, which may still be on its way.
  assert.ok(r.requests >= 3 && r.responses >= r.requests - 1,
    `Chromium got ${r.responses} answers to its ${r.requests} checks`);
  assert.ok(await metric('switchboard_media_ice_direct_total') > before.direct, 'the socket was read directly');
  // The checks after ICE connected are answered by switchboard itself on
  // the socket it took over (the first ones by libnice): at least two of
  // the three or more Chromium sent (fewer on a loaded machine).
  const answered = await metric('switchboard_media_stun_answered_total') - before.answered;
  assert.ok(answered >= 2,
    `switchboard answered ${answered} consent checks itself (Chromium: ${r.requests} sent, ${r.responses} answered)`);
  await ctx.close();
});
