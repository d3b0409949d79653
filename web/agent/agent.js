// Switchboard agent desktop: a contact-center agent's page on the SDK in
// ../sdk. Sign in and register, presence (Away: queues skip this page, it
// declines direct calls),
// incoming call with ring, one call at a time with mute, hold, DTMF, blind
// and consultative transfer, in-call chat, conference members, dial box.
// Every control is drawn by render() from the SDK's state: a button whose
// request is pending is disabled until the server answered, and a refusal
// is shown with its SDK error name.
import { Phone } from '../sdk/index.js';
import { pageToken as getToken } from '../shared/devtoken.js';

const $ = (id) => document.getElementById(id);
const ui = {
  phone: null,
  call: null,
  presence: 'available',
  pending: new Set(),
  consult: 'none',
  callStart: 0,
  rxPackets: 0,
  ring: null,
};

function showError(err) {
  $('error').textContent = err ? `${err.name || 'error'}: ${err.message || ''}` : '';
}

function announce(text) {
  $('announce').textContent = text;
}

const peerOf = (c) => (c.remoteDisplayName && c.remoteDisplayName !== c.remote
  ? `${c.remoteDisplayName} (${c.remote})` : c.remote);

/* Runs one user action: its control stays disabled until the server
 * answered; a failure is shown with its SDK error name. */
async function act(name, fn) {
  ui.pending.add(name);
  showError(null);
  render();
  try {
    return await fn();
  } catch (err) {
    showError(err);
    return undefined;
  } finally {
    ui.pending.delete(name);
    render();
  }
}

function fmtDuration(ms) {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function callStateText(c) {
  if (c.state !== 'active') return c.state;
  if (c.held) return 'active, on hold';
  if (c.remoteHeld) return 'active, held by the other side';
  return 'active';
}

function renderConnection(up) {
  const st = ui.phone ? ui.phone.state : 'idle';
  const conn = $('conn-state');
  conn.textContent = st === 'reconnecting' ? `reconnecting (attempt ${ui.phone.reconnectAttempt})`
    : st === 'connected' ? `connected as ${ui.phone.identity ? ui.phone.identity.user : ''}` : st;
  conn.className = `status ${st}`;
  $('connect').disabled = ui.pending.has('connect') || (st !== 'idle' && st !== 'disconnected');
  $('disconnect').disabled = ui.pending.has('disconnect') || st === 'idle' || st === 'disconnected';
  $('presence').disabled = !up;
  const p = $('presence-state');
  p.textContent = ui.presence === 'away' ? 'Away' : 'Available';
  p.className = `status ${up ? ui.presence : 'idle'}`;
  $('dial').disabled = !up || !!ui.call || ui.pending.has('dial');
}

function renderCall(c) {
  const active = !!c && c.state === 'active';
  const consulting = !!c && (!!c.consultState || ui.pending.has('consult'));
  $('incoming').hidden = !c || (c.state !== 'incoming' && c.state !== 'answering');
  $('accept').disabled = !c || c.state !== 'incoming' || ui.pending.has('accept') || ui.pending.has('decline');
  $('decline').disabled = $('accept').disabled;
  $('active').hidden = !c || !['dialing', 'ringing', 'active'].includes(c.state);
  if (!c) return;
  $('incoming-from').textContent = peerOf(c);
  $('call-peer').textContent = peerOf(c);
  $('call-state').textContent = callStateText(c);
  $('mute').disabled = !active;
  $('mute').textContent = c.isMuted ? 'Unmute' : 'Mute';
  $('mute').setAttribute('aria-pressed', String(c.isMuted));
  $('hold').disabled = !active || consulting || ui.pending.has('hold');
  $('hold').textContent = c.held ? 'Resume' : 'Hold';
  $('hold').setAttribute('aria-pressed', String(c.held));
  $('hangup').disabled = ui.pending.has('hangup');
  document.querySelectorAll('.keypad button').forEach((b) => { b.disabled = !active || ui.pending.has('dtmf'); });
  $('xfer').disabled = !active || consulting || ui.pending.has('xfer');
  $('consult').disabled = !active || consulting || ui.pending.has('xfer');
  $('consult-state').textContent = ui.consult;
  $('consult-complete').disabled = !active || c.consultState !== 'answered' || ui.pending.has('complete');
  $('consult-cancel').disabled = !active || !consulting || ui.pending.has('cancel');
  const conf = c.conference;
  $('conference').hidden = !conf;
  if (conf) {
    $('conf-name').textContent = conf.name;
    const me = conf.members.find((m) => m.call === c.id);
    $('conf-members').replaceChildren(...conf.members.map((m) => {
      const li = document.createElement('li');
      li.textContent = `${m.from}${m.call === c.id ? ' (you)' : ''}${m.muted ? ', muted' : ''}`;
      return li;
    }));
    $('conf-mute').disabled = !active || ui.pending.has('confmute');
    $('conf-mute').textContent = me && me.muted ? 'Unmute me in the room' : 'Mute me in the room';
    $('conf-mute').setAttribute('aria-pressed', String(!!(me && me.muted)));
  }
}

function renderChat(c) {
  const open = !!c && c.chatOpen;
  $('chat-input').disabled = !open;
  $('chat-send').disabled = !open || ui.pending.has('chat');
  $('chat-state').textContent = open ? `Chat with ${peerOf(c)}` : c && c.state !== 'ended'
    ? 'No chat on this call (the other side has no chat channel, or it is not open yet).'
    : 'No chat: no call with an open chat channel.';
}

function render() {
  const up = !!ui.phone && ui.phone.state === 'connected';
  renderConnection(up);
  renderCall(ui.call);
  renderChat(ui.call);
}

function addChat(who, text) {
  const li = document.createElement('li');
  li.className = who;
  li.textContent = `${who === 'me' ? 'You' : (ui.call ? peerOf(ui.call) : 'Them')}: ${text}`;
  $('chat-log').append(li);
}

/* A ring tone for an incoming call (440 + 480 Hz, 1 s on, 1 s off). */
function startRing() {
  stopRing();
  try {
    const ac = new AudioContext();
    const gain = ac.createGain();
    gain.gain.value = 0.05;
    gain.connect(ac.destination);
    for (const f of [440, 480]) {
      const o = ac.createOscillator();
      o.frequency.value = f;
      o.connect(gain);
      o.start();
    }
    let on = true;
    ui.ring = { ac, timer: setInterval(() => { on = !on; gain.gain.value = on ? 0.05 : 0; }, 1000) };
  } catch {
    ui.ring = null; /* no audio output: the panel still shows the call */
  }
}

function stopRing() {
  if (!ui.ring) return;
  clearInterval(ui.ring.timer);
  ui.ring.ac.close().catch(() => {});
  ui.ring = null;
}

async function sampleStats(c) {
  const pc = c.peerConnection;
  if (!pc) return;
  const stats = await pc.getStats();
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') ui.rxPackets = s.packetsReceived || 0;
  });
  if (c === ui.call) $('rx-packets').textContent = String(ui.rxPackets);
}

function tick() {
  const c = ui.call;
  if (!c) return;
  if (ui.callStart) $('call-timer').textContent = fmtDuration(Date.now() - ui.callStart);
  sampleStats(c).catch(() => {});
}

function attach(c) {
  ui.call = c;
  ui.consult = 'none';
  ui.callStart = 0;
  ui.rxPackets = 0;
  $('rx-packets').textContent = '0';
  $('call-timer').textContent = '0:00';
  $('chat-log').replaceChildren();
  $('last-call').textContent = '';
  c.on('statechange', (s) => {
    if (c !== ui.call) return;
    if (s !== 'incoming') stopRing();
    if (s === 'active' && !ui.callStart) ui.callStart = Date.now();
    if (s !== 'ended') announce(`Call with ${peerOf(c)}: ${callStateText(c)}`);
    render();
  });
  c.on('hold', () => { announce(`Call with ${peerOf(c)}: ${callStateText(c)}`); render(); });
  c.on('mute', render);
  c.on('consult', ({ state, reason }) => {
    ui.consult = reason ? `${state} (${reason})` : state;
    announce(`Consultation ${ui.consult}`);
    render();
  });
  c.on('chatopen', render);
  c.on('message', ({ text }) => addChat('them', text));
  c.on('chatfailed', ({ status }) => showError({ name: 'chat_failed', message: `the other side refused the message (SIP ${status})` }));
  c.on('conference', render);
  c.on('error', showError);
  c.on('track', ({ stream }) => { $('remote').srcObject = stream; });
  c.on('ended', ({ reason, error }) => {
    stopRing();
    const text = `Call with ${peerOf(c)} ended: ${reason}${error ? ` (${error.name})` : ''}` +
      (ui.callStart ? ` after ${fmtDuration(Date.now() - ui.callStart)}` : '');
    $('last-call').textContent = text;
    announce(text);
    if (error && reason !== 'rejected') showError(error);
    if (c === ui.call) {
      ui.call = null;
      ui.callStart = 0;
      ui.consult = 'none';
    }
    render();
  });
  render();
}

function onIncoming(c) {
  if (ui.presence === 'away' || ui.call) {
    const why = ui.call ? 'busy' : 'away';
    c.reject().catch(() => {});
    $('last-call').textContent = `Declined a call from ${peerOf(c)} (${why})`;
    return;
  }
  attach(c);
  startRing();
  announce(`Incoming call from ${peerOf(c)}`);
}

$('connect').onclick = () => act('connect', async () => {
  if (ui.phone) ui.phone.destroy();
  const phone = new Phone({ getToken });
  ui.phone = phone;
  phone.on('statechange', (s) => { announce(`Connection ${s}`); render(); });
  phone.on('reconnecting', render);
  phone.on('disconnected', ({ error }) => { if (error) showError(error); render(); });
  phone.on('incoming', onIncoming);
  // A new session starts available on the server; a resumed one kept it.
  phone.on('connected', ({ resumed }) => {
    if (!resumed && ui.presence === 'away') sendPresence().catch(showError);
  });
  await phone.register();
});

$('disconnect').onclick = () => act('disconnect', () => ui.phone.disconnect());

// The server is told too (phone.setPresence): its queues do not offer
// callers to this page while it is away. Direct calls still come and the
// page declines them (onIncoming).
function sendPresence() {
  if (!ui.phone || ui.phone.state !== 'connected') return Promise.resolve();
  return ui.phone.setPresence(ui.presence);
}

document.querySelectorAll('input[name=presence]').forEach((r) => {
  r.onchange = () => {
    ui.presence = r.value;
    announce(ui.presence === 'away' ? 'Away: incoming calls are declined' : 'Available for calls');
    render();
    act('presence', sendPresence);
  };
});

$('dialbox').onsubmit = (e) => {
  e.preventDefault();
  const to = $('dial-to').value.trim();
  if (!ui.phone || ui.call) return;
  if (!to) {
    showError({ name: 'invalid_argument', message: 'type a number or user to call' });
    return;
  }
  showError(null);
  attach(ui.phone.call(to, { chat: $('dial-chat').checked }));
};

$('accept').onclick = () => {
  const c = ui.call;
  return act('accept', () => c.accept({ chat: true }));
};
$('decline').onclick = () => {
  const c = ui.call;
  return act('decline', () => c.reject());
};
$('hangup').onclick = () => {
  const c = ui.call;
  return act('hangup', () => c.hangup());
};
$('mute').onclick = () => {
  if (!ui.call) return;
  ui.call.mute(!ui.call.isMuted);
  render();
};
$('hold').onclick = () => {
  const c = ui.call;
  return act('hold', () => c.hold(!c.held));
};
document.querySelectorAll('.keypad button').forEach((b) => {
  b.onclick = () => {
    const c = ui.call;
    return act('dtmf', () => c.sendDigits(b.textContent));
  };
});
$('xfer-form').onsubmit = (e) => {
  e.preventDefault();
  const c = ui.call;
  const to = $('xfer-to').value.trim();
  return act('xfer', async () => {
    announce(`Transferring ${peerOf(c)} to ${to}`);
    await c.transfer(to);
  });
};
$('consult-form').onsubmit = (e) => {
  e.preventDefault();
  const c = ui.call;
  const to = $('consult-to').value.trim();
  return act('consult', async () => {
    ui.consult = `dialling ${to}`;
    try {
      await c.consult(to);
    } catch (err) {
      ui.consult = `failed (${err.name})`;
      throw err;
    }
  });
};
$('consult-complete').onclick = () => {
  const c = ui.call;
  return act('complete', () => c.completeTransfer());
};
$('consult-cancel').onclick = () => {
  const c = ui.call;
  return act('cancel', () => c.endConsult());
};
$('conf-mute').onclick = () => {
  const c = ui.call;
  const me = c && c.conference && c.conference.members.find((m) => m.call === c.id);
  return act('confmute', () => c.muteInConference(!(me && me.muted)));
};
$('chat-form').onsubmit = (e) => {
  e.preventDefault();
  const c = ui.call;
  const text = $('chat-input').value;
  return act('chat', async () => {
    await c.sendMessage(text);
    addChat('me', text);
    $('chat-input').value = '';
  });
};

// For the console and tests: the phone, the current call, its last audio-in count.
window.agent = {
  get phone() { return ui.phone; },
  get call() { return ui.call; },
  get rxPackets() { return ui.rxPackets; },
};

setInterval(tick, 1000);
render();
