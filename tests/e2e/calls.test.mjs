// Browser tests of the SDK's Call objects against a scripted gateway: until
// the call engine (issue 6) answers calls, the server replies not_available to
// every call method, so these tests replace the WebSocket (the `WebSocket`
// option) with a gateway written in the page that follows docs/protocol.md
// sections 4.2 and 6 and holds the far end as a second RTCPeerConnection.
// Media is real: Chromium's fake microphone, ICE over loopback, and the test
// checks that the SDK's peer connection reaches "connected" and gets a track.
// The page itself is served by the real switchboard binary.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launchChromium, startServer } from './harness.mjs';

const T = { timeout: 40000 };
let server;
let browser;
const cleanups = [];
const watchdog = setTimeout(async () => {
  console.error('e2e calls: watchdog fired');
  for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => {});
  process.exit(1);
}, 120000);
watchdog.unref();

before(async () => {
  assert.ok(process.env.SB_BINARY, 'SB_BINARY must name the switchboard binary');
  server = await startServer(process.env.SB_BINARY);
  cleanups.push(async () => {
    await server.stop();
    // SIGTERM must stop it cleanly (exit 0; under ASan also without leaks).
    assert.deepEqual(server.exit, { code: 0, signal: null }, server.log().slice(-3000));
  });
  browser = await launchChromium();
  cleanups.push(() => browser.close());
});

after(async () => {
  const errors = [];
  for (const fn of cleanups.splice(0).reverse()) await fn().catch((e) => errors.push(e));
  clearTimeout(watchdog);
  if (errors.length) throw errors[0];
});

/* The scripted gateway, evaluated in the page: window.gw records every request
 * and lets the test push events. */
function installGateway() {
  const gw = { requests: [], hellos: [], far: null, ws: null, farTracks: 0, answer: true, resumeFails: false };
  window.gw = gw;
  const CALL = 'c-00112233445566aa';
  const send = (m) => gw.ws.onmessage({ data: JSON.stringify(m) });
  gw.event = (event, data) => send({ type: 'event', event, data });
  const newFar = async () => {
    const far = new RTCPeerConnection();
    gw.far = far;
    far.ontrack = () => gw.farTracks++;
    // In-call chat: the far end (as the engine's echo) returns what comes
    // on the browser's channel `chat`.
    far.ondatachannel = (ev) => {
      gw.farChat = ev.channel;
      ev.channel.onmessage = (m) => ev.channel.send(`echo: ${m.data}`);
    };
    far.onicecandidate = (ev) => gw.event('call.ice', ev.candidate
      ? { call: CALL, candidate: ev.candidate.candidate, sdp_mid: ev.candidate.sdpMid, sdp_mline_index: ev.candidate.sdpMLineIndex }
      : { call: CALL, candidate: '' });
    const s = await navigator.mediaDevices.getUserMedia({ audio: true });
    for (const t of s.getTracks()) far.addTrack(t, s);
    return far;
  };
  const handlers = {
    hello: (p) => {
      gw.hellos.push(p);
      if (p.resume && gw.resumeFails) throw { code: 2010, name: 'resume_failed', message: 'unknown resume token' };
      if (!p.resume) gw.session = gw.hellos.length === 1 ? 's-0123456789abcdef' : `s-${gw.hellos.length.toString(16).padStart(16, '0')}`;
      return { session: gw.session, resume_token: String(gw.hellos.length % 10).repeat(64), resumed: !!p.resume,
      ping_interval_ms: 20000, idle_timeout_ms: 60000, resume_window_ms: 60000,
      identity: { user: 'alice', display_name: 'Alice', may_dial: ['*'] },
      limits: { max_frame: 65536, max_msgs_per_sec: 50, max_pending: 32, max_calls: 4 } };
    },
    'call.dial': async (p) => {
      const far = await newFar();
      await far.setRemoteDescription({ type: 'offer', sdp: p.sdp });
      const answer = await far.createAnswer();
      await far.setLocalDescription(answer);
      // Answer late, so that the browser's first candidates come before the call id.
      await new Promise((r) => setTimeout(r, 300));
      setTimeout(() => {
        gw.event('call.progress', { call: CALL, status: 180 });
        if (gw.answer) setTimeout(() => gw.event('call.answered', { call: CALL, sdp: far.localDescription.sdp }), 100);
      }, 50);
      return { call: CALL };
    },
    'call.answer': async (p) => {
      await gw.far.setRemoteDescription({ type: 'answer', sdp: p.sdp });
      return {};
    },
    'call.ice': async (p) => {
      if (p.candidate) await gw.far.addIceCandidate({ candidate: p.candidate, sdpMid: p.sdp_mid, sdpMLineIndex: p.sdp_mline_index });
      return {};
    },
    'call.dtmf': () => ({}),
    'call.hold': () => ({}),
    // As the engine: answered when the target answered (or failed); the
    // agent's call.ended "transferred" follows the result.
    'call.transfer': async (p) => {
      await new Promise((r) => setTimeout(r, 200));
      if (p.to === 'busy') throw { code: 10486, name: 'sip_486_busy_here', message: 'Busy Here' };
      setTimeout(() => gw.event('call.ended', { call: p.call, reason: 'transferred' }), 0);
      return {};
    },
    'call.hangup': () => ({}),
  };
  gw.offerIncoming = async (chat) => {
    const far = await newFar();
    // A server offer with m=application (the media plane's data channels).
    if (chat) far.createDataChannel('server-side', { ordered: true });
    const offer = await far.createOffer();
    await far.setLocalDescription(offer);
    gw.event('call.incoming', { call: CALL, from: 'bob', display_name: 'Bob', sdp: far.localDescription.sdp });
  };
  class GatewaySocket {
    constructor(url, protocol) {
      this.url = url;
      this.protocol = protocol;
      this.readyState = 0;
      gw.ws = this;
      setTimeout(() => {
        this.readyState = 1;
        this.onopen && this.onopen({});
      }, 0);
    }
    send(text) {
      const req = JSON.parse(text);
      gw.requests.push(req);
      Promise.resolve().then(() => handlers[req.method](req.params)).then(
        (result) => send({ type: 'response', id: req.id, result }),
        (e) => send({ type: 'response', id: req.id, error: e && e.code ? e : { code: 5000, name: 'internal_error', message: String(e) } }));
    }
    close() {
      this.readyState = 3;
    }
    /* The network drops this socket: only the page notices. */
    drop() {
      this.readyState = 3;
      this.onclose && this.onclose({ code: 1006, reason: '' });
    }
  }
  gw.GatewaySocket = GatewaySocket;
}

async function openPage() {
  const ctx = await browser.newContext();
  cleanups.push(() => ctx.close().catch(() => {}));
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  if (process.env.SB_E2E_VERBOSE) page.on('console', (m) => console.log('page:', m.text()));
  await page.goto(`${server.base}/sdk/test.html`);
  await page.waitForFunction(() => window.Switchboard, null, { timeout: 10000 });
  await page.evaluate(installGateway);
  await page.evaluate(async () => {
    window.phone = new window.Switchboard.Phone({ url: 'ws://gateway.invalid/ws', token: 'x', WebSocket: window.gw.GatewaySocket,
      reconnect: { initialDelay: 50, jitter: 0 } });
    await window.phone.connect();
  });
  return { page, ctx };
}

const connected = () => new Promise((resolve, reject) => {
  const pc = window.call.peerConnection;
  const check = () => {
    if (pc.connectionState === 'connected') resolve(true);
    if (pc.connectionState === 'failed') reject(new Error('ICE failed'));
  };
  pc.addEventListener('connectionstatechange', check);
  check();
  setTimeout(() => reject(new Error(`not connected: ${pc.connectionState}`)), 15000);
});

describe('calls against a scripted gateway', () => {
  test('outgoing: offer, ringing, answer, trickle ICE, media, DTMF, hold, mute, hangup', T, async () => {
    const { page, ctx } = await openPage();
    const r = await page.evaluate(async (waitConnected) => {
      const events = [];
      const call = window.phone.call('bob', { displayName: 'Alice desk' });
      window.call = call;
      let earlyCandidates = 0;
      const counting = setInterval(() => {
        if (call.peerConnection && !call.id && !window.earlyPc) {
          window.earlyPc = true;
          call.peerConnection.addEventListener('icecandidate', (ev) => { if (ev.candidate && !call.id) earlyCandidates++; });
        }
      }, 1);
      for (const n of ['ringing', 'answered', 'track', 'hold', 'mute', 'digit', 'ended']) call.on(n, () => events.push(n));
      call.on('statechange', (s) => events.push(`state:${s}`));
      await new Promise((res) => call.once('answered', res));
      clearInterval(counting);
      await (0, eval)(`(${waitConnected})`)();
      await call.sendDigits('12#', { duration: 120 });
      await call.hold(true);
      call.mute(true);
      const micEnabled = call.localStream.getAudioTracks()[0].enabled;
      window.gw.event('call.dtmf', { call: call.id, digit: '5', duration_ms: 100 });
      window.gw.event('call.hold', { call: call.id, hold: true });
      const beforeHangup = { id: call.id, state: call.state, held: call.held, remoteHeld: call.remoteHeld, muted: call.isMuted, micEnabled,
        remoteTracks: call.remoteStream ? call.remoteStream.getTracks().length : 0, farTracks: window.gw.farTracks };
      await call.hangup();
      return { events, beforeHangup, earlyCandidates, end: { state: call.state, reason: call.endReason, pc: call.peerConnection.signalingState }, requests: window.gw.requests.map((q) => [q.method, q.params]), calls: window.phone.calls.length };
    }, connected.toString());
    const dial = r.requests.find(([m]) => m === 'call.dial')[1];
    assert.equal(dial.to, 'bob');
    assert.equal(dial.display_name, 'Alice desk');
    assert.match(dial.sdp, /^v=0\r\n/);
    assert.match(dial.sdp, /m=audio /);
    const ice = r.requests.filter(([m]) => m === 'call.ice').map(([, p]) => p);
    assert.ok(ice.length >= 2, 'the browser trickled its candidates');
    assert.ok(ice.every((p) => p.call === r.beforeHangup.id));
    assert.ok(ice.slice(0, -1).every((p) => p.candidate.startsWith('candidate:')));
    assert.ok(ice.some((p) => p.candidate === ''), 'end of candidates is sent');
    // Candidates found while call.dial was unanswered were kept and sent after it.
    assert.ok(r.earlyCandidates > 0, 'some candidates were found before the call id');
    assert.ok(ice.filter((p) => p.candidate).length >= r.earlyCandidates);
    assert.deepEqual(r.requests.find(([m]) => m === 'call.dtmf')[1], { call: r.beforeHangup.id, digits: '12#', duration_ms: 120 });
    assert.deepEqual(r.requests.find(([m]) => m === 'call.hold')[1], { call: r.beforeHangup.id, hold: true });
    assert.deepEqual(r.requests.at(-1), ['call.hangup', { call: r.beforeHangup.id }]);
    assert.deepEqual(r.beforeHangup, { id: 'c-00112233445566aa', state: 'active', held: true, remoteHeld: true, muted: true, micEnabled: false, remoteTracks: 1, farTracks: 1 });
    assert.deepEqual(r.events.filter((e) => e.startsWith('state:')), ['state:ringing', 'state:active', 'state:ended']);
    for (const e of ['ringing', 'answered', 'track', 'hold', 'mute', 'digit', 'ended']) assert.ok(r.events.includes(e), `event ${e}`);
    assert.deepEqual(r.end, { state: 'ended', reason: 'hangup', pc: 'closed' });
    assert.equal(r.calls, 0);
    await ctx.close();
  });

  test('blind transfer: call.transfer sent, a busy target rejects and the call goes on, then resolved and ended transferred', T, async () => {
    const { page, ctx } = await openPage();
    const r = await page.evaluate(async () => {
      const order = [];
      const call = window.phone.call('bob');
      await new Promise((res) => call.once('answered', res));
      let busy = null;
      try {
        await call.transfer('busy');
      } catch (e) {
        busy = { code: e.code, sipStatus: e.sipStatus, state: call.state };
      }
      call.on('ended', ({ reason }) => order.push(`ended:${reason}`));
      await call.transfer('5551234').then(() => order.push('resolved'));
      if (call.state !== 'ended') await new Promise((res) => call.once('ended', res));
      let bad = null;
      try {
        await call.transfer('');
      } catch (e) {
        bad = e.code;
      }
      return { busy, order, end: { state: call.state, reason: call.endReason }, bad,
        transfers: window.gw.requests.filter((q) => q.method === 'call.transfer').map((q) => q.params), calls: window.phone.calls.length };
    });
    assert.deepEqual(r.busy, { code: 10486, sipStatus: 486, state: 'active' });
    assert.deepEqual(r.transfers, [{ call: 'c-00112233445566aa', to: 'busy' }, { call: 'c-00112233445566aa', to: '5551234' }]);
    assert.deepEqual(r.order, ['resolved', 'ended:transferred'], 'the promise settles before the call ends');
    assert.deepEqual(r.end, { state: 'ended', reason: 'transferred' });
    assert.equal(r.bad, 9005);
    assert.equal(r.calls, 0);
    await ctx.close();
  });

  test('incoming: accept answers the offer and media flows; remote hangup ends it', T, async () => {
    const { page, ctx } = await openPage();
    const r = await page.evaluate(async (waitConnected) => {
      const got = new Promise((res) => window.phone.once('incoming', res));
      await window.gw.offerIncoming();
      const call = await got;
      window.call = call;
      const first = { state: call.state, remote: call.remote, name: call.remoteDisplayName, direction: call.direction };
      const accepted = new Promise((res) => call.once('accepted', res));
      await call.accept();
      await accepted;
      await (0, eval)(`(${waitConnected})`)();
      const active = call.state;
      const ended = new Promise((res) => call.once('ended', res));
      window.gw.event('call.ended', { call: call.id, reason: 'remote_hangup' });
      const end = await ended;
      return { first, active, end: { reason: end.reason, error: end.error }, requests: window.gw.requests.map((q) => q.method), farTracks: window.gw.farTracks };
    }, connected.toString());
    assert.deepEqual(r.first, { state: 'incoming', remote: 'bob', name: 'Bob', direction: 'incoming' });
    assert.equal(r.active, 'active');
    assert.deepEqual(r.end, { reason: 'remote_hangup', error: null });
    assert.ok(r.requests.includes('call.answer'));
    assert.ok(r.requests.indexOf('call.ice') > r.requests.indexOf('call.answer'), 'candidates follow the answer');
    assert.equal(r.farTracks, 1);
    await ctx.close();
  });

  test('chat: the data channel chat, sendMessage and message, its limits, call.chat_failed', T, async () => {
    const { page, ctx } = await openPage();
    const r = await page.evaluate(async () => {
      const err = async (p) => p.then(() => 'resolved', (e) => e.name);
      const call = window.phone.call('bob', { chat: true });
      const early = await err(call.sendMessage('too early'));
      await new Promise((res) => call.once('answered', res));
      if (!call.chatOpen) await new Promise((res) => call.once('chatopen', res));
      const got = new Promise((res) => call.once('message', res));
      await call.sendMessage('héllo ☎');
      const echo = await got;
      const tooLong = await err(call.sendMessage('é'.repeat(513)));
      const justFits = await err(call.sendMessage('é'.repeat(512)));
      const empty = await err(call.sendMessage(''));
      const failed = new Promise((res) => call.once('chatfailed', res));
      window.gw.event('call.chat_failed', { call: call.id, status: 488 });
      const f = await failed;
      const dial = window.gw.requests.find((q) => q.method === 'call.dial').params.sdp;
      await call.hangup();
      // An incoming call whose offer has a data channel: accept() opens chat.
      const inc = new Promise((res) => window.phone.once('incoming', res));
      await window.gw.offerIncoming(true);
      const call2 = await inc;
      await call2.accept();
      if (!call2.chatOpen) await new Promise((res) => call2.once('chatopen', res));
      const got2 = new Promise((res) => call2.once('message', res));
      await call2.sendMessage('from the callee');
      const echo2 = await got2;
      await call2.hangup();
      return { early, text: echo.text, tooLong, justFits, empty, status: f.status, application: /^m=application /m.test(dial), echo2: echo2.text, label: window.gw.farChat.label };
    });
    assert.deepEqual(r, { early: 'invalid_state', text: 'echo: héllo ☎', tooLong: 'invalid_argument', justFits: 'resolved', empty: 'invalid_argument',
      status: 488, application: true, echo2: 'echo: from the callee', label: 'chat' });
    await ctx.close();
  });

  test('a SIP failure ends the call with its status; reject and cancel', T, async () => {
    const { page, ctx } = await openPage();
    const r = await page.evaluate(async () => {
      window.gw.answer = false;
      const call = window.phone.call('+15550001');
      await new Promise((res) => call.once('ringing', res));
      const ended = new Promise((res) => call.once('ended', res));
      window.gw.event('call.ended', { call: call.id, reason: 'failed', error: { code: 10486, name: 'sip_486_busy_here', message: 'Busy Here' } });
      const busy = await ended;
      const c2 = window.phone.call('+15550002');
      await new Promise((res) => c2.once('ringing', res));
      await c2.hangup();
      const inc = new Promise((res) => window.phone.once('incoming', res));
      await window.gw.offerIncoming();
      const c3 = await inc;
      await c3.reject();
      const hangups = window.gw.requests.filter((q) => q.method === 'call.hangup').map((q) => q.params);
      let notActive;
      try {
        await c3.sendDigits('1');
      } catch (e) {
        notActive = e.name;
      }
      return { busy: { reason: busy.reason, name: busy.error.name, sip: busy.error.sipStatus, category: busy.error.category },
        cancel: c2.endReason, reject: c3.endReason, hangups, notActive };
    });
    assert.deepEqual(r.busy, { reason: 'failed', name: 'sip_486_busy_here', sip: 486, category: 'sip' });
    assert.equal(r.cancel, 'cancelled');
    assert.equal(r.reject, 'rejected');
    assert.deepEqual(r.hangups.at(-1), { call: 'c-00112233445566aa', reason: 'rejected' });
    assert.equal(r.notActive, 'invalid_state');
    await ctx.close();
  });

  test('a call survives a resumed session and ends when the session is lost', T, async () => {
    const { page, ctx } = await openPage();
    const r = await page.evaluate(async (waitConnected) => {
      const call = window.phone.call('bob');
      window.call = call;
      await new Promise((res) => call.once('answered', res));
      await (0, eval)(`(${waitConnected})`)();
      const session = window.phone.session;
      // Drop 1: resumed, the call goes on and still takes requests.
      const back = new Promise((res) => window.phone.once('connected', res));
      window.gw.ws.drop();
      const info = await back;
      const afterResume = { resumed: info.resumed, same: info.session === session, state: call.state, media: call.peerConnection.connectionState, resumeSent: window.gw.hellos.at(-1).resume === '1'.repeat(64) };
      await call.sendDigits('9');
      // Drop 2: the gateway no longer knows the token; the call ends with resume_failed.
      window.gw.resumeFails = true;
      const ended = new Promise((res) => call.once('ended', res));
      const lost = new Promise((res) => window.phone.once('sessionlost', res));
      window.gw.ws.drop();
      const end = await ended;
      const l = await lost;
      await new Promise((res) => window.phone.state === 'connected' ? res() : window.phone.once('connected', res));
      return { afterResume, end: { reason: end.reason, error: end.error.name }, lost: { session: l.session === session, error: l.error.name },
        newSession: window.phone.session !== session, calls: window.phone.calls.length, dtmf: window.gw.requests.filter((q) => q.method === 'call.dtmf').length };
    }, connected.toString());
    assert.deepEqual(r.afterResume, { resumed: true, same: true, state: 'active', media: 'connected', resumeSent: true });
    assert.equal(r.dtmf, 1);
    assert.deepEqual(r.end, { reason: 'failed', error: 'resume_failed' });
    assert.deepEqual(r.lost, { session: true, error: 'resume_failed' });
    assert.equal(r.newSession, true);
    assert.equal(r.calls, 0);
    await ctx.close();
  });
});
