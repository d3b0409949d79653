// Switchboard softphone demo: sign in, dial, answer, hang up, mute, hold,
// DTMF, call log and live call quality, on the SDK in ../sdk.
import { Phone } from '../sdk/index.js';
import { pageToken as getToken } from '../shared/devtoken.js';

const $ = (id) => document.getElementById(id);
let phone = null;
let call = null;
let statsTimer = null;
let callStart = 0;

function showError(err) {
  $('error').textContent = err ? `${err.name || 'error'}: ${err.message}` : '';
}

function setStatus(state) {
  $('status').textContent = state;
  $('status').className = `status ${state}`;
  const up = state === 'connected';
  $('dial').disabled = !up || !!call;
  $('connect').disabled = state !== 'idle' && state !== 'disconnected';
  $('disconnect').disabled = !$('connect').disabled;
}

function logCall(entry) {
  const log = JSON.parse(localStorage.getItem('sb-calllog') || '[]');
  log.unshift(entry);
  localStorage.setItem('sb-calllog', JSON.stringify(log.slice(0, 50)));
  renderLog();
}

function renderLog() {
  const log = JSON.parse(localStorage.getItem('sb-calllog') || '[]');
  $('calllog').replaceChildren(...log.map((e) => {
    const li = document.createElement('li');
    const secs = e.duration ? ` ${e.duration}s` : '';
    li.textContent = `${new Date(e.at).toLocaleTimeString()} ${e.direction === 'incoming' ? '←' : '→'} ${e.peer}: ${e.reason}${secs}`;
    return li;
  }));
}

async function sampleQuality() {
  const pc = call && call.peerConnection;
  if (!pc) return;
  const stats = await pc.getStats();
  const codecs = new Map();
  stats.forEach((s) => { if (s.type === 'codec') codecs.set(s.id, s); });
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      $('q-in').textContent = `${s.packetsReceived} packets, ${Math.round((s.bytesReceived || 0) / 1024)} KiB`;
      $('q-lost').textContent = String(s.packetsLost ?? 0);
      $('q-jitter').textContent = `${Math.round((s.jitter || 0) * 1000)} ms`;
      const c = codecs.get(s.codecId);
      if (c) $('q-codec').textContent = `${c.mimeType.replace('audio/', '')} ${c.clockRate / 1000} kHz`;
    } else if (s.type === 'outbound-rtp' && s.kind === 'audio') {
      $('q-out').textContent = `${s.packetsSent} packets, ${Math.round((s.bytesSent || 0) / 1024)} KiB`;
    } else if (s.type === 'candidate-pair' && s.nominated && s.currentRoundTripTime !== undefined) {
      $('q-rtt').textContent = `${Math.round(s.currentRoundTripTime * 1000)} ms`;
    }
  });
  if (call && call.state === 'active') $('call-timer').textContent = `${Math.round((Date.now() - callStart) / 1000)}s`;
}

function attach(c) {
  call = c;
  $('incall').hidden = false;
  $('call-peer').textContent = c.remoteDisplayName || c.remote;
  $('call-state').textContent = c.state;
  $('mute').textContent = 'Mute';
  $('hold').textContent = 'Hold';
  setStatus(phone.state);
  c.on('statechange', (s) => { $('call-state').textContent = s; });
  c.on('answered', () => { callStart = Date.now(); });
  c.on('accepted', () => { callStart = Date.now(); });
  c.on('track', ({ stream }) => { $('remote').srcObject = stream; });
  c.on('ended', ({ reason, error }) => {
    logCall({ at: Date.now(), direction: c.direction, peer: c.remote, reason: error ? error.name : reason,
      duration: callStart ? Math.round((Date.now() - callStart) / 1000) : 0 });
    showError(error);
    clearInterval(statsTimer);
    call = null;
    callStart = 0;
    $('incall').hidden = true;
    $('incoming').hidden = true;
    $('call-timer').textContent = '';
    setStatus(phone.state);
  });
  clearInterval(statsTimer);
  statsTimer = setInterval(sampleQuality, 1000);
}

$('connect').onclick = async () => {
  showError(null);
  phone = new Phone({ getToken });
  window.phone = phone; // handy in the console and for tests
  phone.on('statechange', setStatus);
  phone.on('disconnected', ({ error }) => showError(error));
  phone.on('incoming', (c) => {
    if (call) return c.reject();
    $('incoming-from').textContent = c.remoteDisplayName || c.remote;
    $('incoming').hidden = false;
    $('accept').onclick = () => { $('incoming').hidden = true; attach(c); c.accept(); };
    $('reject').onclick = () => { $('incoming').hidden = true; c.reject(); };
    c.on('ended', () => { $('incoming').hidden = true; });
  });
  try {
    await phone.register();
  } catch (err) {
    showError(err);
  }
};

$('disconnect').onclick = async () => {
  if (phone) await phone.disconnect();
};

$('dial').onclick = () => {
  showError(null);
  const dest = $('dest').value.trim();
  if (!dest || !phone) return;
  attach(phone.call(dest));
};

$('hangup').onclick = () => call && call.hangup();
$('mute').onclick = () => {
  if (!call) return;
  call.mute(!call.isMuted);
  $('mute').textContent = call.isMuted ? 'Unmute' : 'Mute';
};
$('hold').onclick = async () => {
  if (!call) return;
  const h = !call.held;
  const button = $('hold');
  // The server answers once the far end took the hold (a SIP party by
  // re-INVITE); a refusal leaves the call as it was.
  button.disabled = true;
  try {
    await call.hold(h);
    showError(null);
  } catch (e) {
    showError(e);
  } finally {
    button.disabled = false;
    button.textContent = call && call.held ? 'Resume' : 'Hold';
  }
};
document.querySelectorAll('.keypad button').forEach((b) => {
  b.onclick = () => call && call.state === 'active' && call.sendDigits(b.textContent);
});

renderLog();
setStatus('idle');
