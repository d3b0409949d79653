// A call of the Switchboard SDK: one RTCPeerConnection toward the gateway,
// signalled with the call methods and events of docs/protocol.md (sections
// 4.2 and 6): the offer or answer travels in call.dial / call.answer, ICE
// candidates trickle with call.ice both ways.

import { Emitter } from './emitter.js';
import { ErrorCode, SwitchboardError } from './errors.js';

const DTMF_RE = /^[0-9*#A-D]{1,32}$/;
const TRANSFER_TIMEOUT_MS = 120000;
/** The longest chat message, in UTF-8 bytes (the server's SB_CHAT_MAX). */
export const CHAT_MAX_BYTES = 1024;
const END_REASONS = new Set(['hangup', 'remote_hangup', 'failed', 'cancelled', 'timeout', 'transferred', 'kicked']);

/**
 * A call, placed with `phone.call()` or received in the phone's `incoming`
 * event. States: `dialing` → `ringing` → `active` → `ended` for an outgoing
 * call; `incoming` → `answering` → `active` → `ended` for an incoming one.
 */
export class Call extends Emitter {
  /**
   * @param {import('./phone.js').Phone} phone
   * @param {'outgoing'|'incoming'} direction
   * @param {object} init `{to}` or `{id, from, displayName, sdp}`, plus options
   * @internal use `phone.call()` or the `incoming` event
   */
  constructor(phone, direction, init) {
    super();
    this._phone = phone;
    /** `outgoing` or `incoming`. */
    this.direction = direction;
    /** The server's call id (`c-...`); null until `call.dial` is answered. @type {string|null} */
    this.id = init.id || null;
    /** The far end: the destination dialled, or the caller. */
    this.remote = direction === 'outgoing' ? init.to : init.from;
    /** The caller's display name (incoming calls). */
    this.remoteDisplayName = init.displayName || '';
    /** @type {'dialing'|'ringing'|'incoming'|'answering'|'active'|'ended'} */
    this.state = direction === 'outgoing' ? 'dialing' : 'incoming';
    /** Last SIP provisional status seen (180 or 183). */
    this.progressStatus = null;
    /** Why the call ended: `hangup`, `remote_hangup`, `failed`, `cancelled`, `timeout` or `rejected`. */
    this.endReason = null;
    /** The error that ended the call, if any. @type {SwitchboardError|null} */
    this.error = null;
    /** True while we hold the call; `remoteHeld` when the far end holds. */
    this.held = false;
    this.remoteHeld = false;
    /**
     * The conference room this call is in (a call to a conference
     * destination), with its members, once the server told it; else null.
     * @type {{name: string, members: {call: string, from: string}[]}|null}
     */
    this.conference = null;
    /**
     * The consultation under way (`consult()`): `ringing` while the target
     * rings, `answered` while talking with it; null when there is none.
     * @type {'ringing'|'answered'|null}
     */
    this.consultState = null;
    /** The remote media once it arrives. @type {MediaStream|null} */
    this.remoteStream = null;
    /** The local media sent. @type {MediaStream|null} */
    this.localStream = null;
    this._muted = false;
    this._options = init.options || {};
    this._remoteOffer = init.sdp || null;
    this._pc = null;
    this._ownStream = false;
    this._localCandidates = [];
    this._remoteCandidates = [];
    this._remoteDescribed = false;
    this._earlySdp = null;
    this._candidatesFlushed = false;
    /** The data channel `chat` (docs/protocol.md section 6.1), or null. */
    this._chat = null;
  }

  /** True while the call's chat channel is open: `sendMessage()` works. */
  get chatOpen() {
    return !!this._chat && this._chat.readyState === 'open';
  }

  /** The RTCPeerConnection, once media is set up. */
  get peerConnection() {
    return this._pc;
  }

  /** True while the local microphone is muted. */
  get isMuted() {
    return this._muted;
  }

  /**
   * Accepts an incoming call: gets local media, answers the offer and sends
   * `call.answer`. Resolves when the server took the answer.
   * @param {{audio?: boolean|MediaTrackConstraints, video?: boolean|MediaTrackConstraints, stream?: MediaStream}} [options]
   */
  async accept(options = {}) {
    if (this.direction !== 'incoming' || this.state !== 'incoming') {
      throw this._invalid('accept() is for an incoming call that is still ringing');
    }
    this._setState('answering');
    try {
      const opts = { ...this._options, ...options };
      await this._setupMedia(opts);
      await this._pc.setRemoteDescription({ type: 'offer', sdp: this._remoteOffer });
      this._remoteDescribed = true;
      // The server offers a data channel (m=application): the browser
      // opens `chat` on it (RFC 8832), unless told not to.
      if (opts.chat !== false && /^m=application /m.test(this._remoteOffer || '')) this._openChat();
      await this._drainRemoteCandidates();
      const answer = await this._pc.createAnswer();
      await this._pc.setLocalDescription(answer);
      await this._phone._request('call.answer', { call: this.id, sdp: this._pc.localDescription.sdp });
      this._flushLocalCandidates();
    } catch (err) {
      const e = toError(err, ErrorCode.MEDIA_ERROR);
      this._fail(e);
      throw e;
    }
    this._becomeActive();
  }

  /** Declines an incoming call. */
  async reject() {
    if (this.direction !== 'incoming' || this.state !== 'incoming') {
      throw this._invalid('reject() is for an incoming call that is still ringing');
    }
    await this._end('rejected', null, 'rejected');
  }

  /**
   * Hangs up (or cancels a call still ringing). Resolves once the call is
   * ended locally; the server's answer is waited for but a failure of it
   * does not keep the call alive.
   * @param {string} [reason] free text, 0-128 characters, no CR/LF/NUL
   */
  async hangup(reason) {
    if (this.state === 'ended') return;
    const local = this.state === 'dialing' || this.state === 'ringing' ? 'cancelled' : 'hangup';
    await this._end(local, null, reason);
  }

  /**
   * Mutes or unmutes the local audio (the tracks keep flowing, silent).
   * @param {boolean} [muted=true]
   */
  mute(muted = true) {
    this._muted = !!muted;
    if (this.localStream) for (const t of this.localStream.getAudioTracks()) t.enabled = !this._muted;
    this._emit('mute', this._muted);
  }

  /**
   * Mutes or unmutes this member in its conference room, on the server:
   * the others stop (or start again) hearing it, it still hears them, and
   * every member's `conference` event shows it `muted`. Only for a
   * conference call (`call.conference` not null); elsewhere the server
   * refuses with `not_available`: use `mute()`, which silences the local
   * microphone.
   * @param {boolean} [mute=true]
   */
  async muteInConference(mute = true) {
    this._requireActive('muteInConference');
    await this._phone._request('call.mute', { call: this.id, mute: !!mute });
  }

  /**
   * Sends DTMF digits (`0-9 * # A-D`, 1 to 32) through the gateway.
   * @param {string} digits
   * @param {{duration?: number}} [options] tone length in ms, 40-2000
   */
  async sendDigits(digits, options = {}) {
    if (typeof digits !== 'string' || !DTMF_RE.test(digits)) {
      throw new SwitchboardError(ErrorCode.INVALID_ARGUMENT, null, 'digits must be 1-32 of 0-9 * # A-D');
    }
    this._requireActive('sendDigits');
    const params = { call: this.id, digits };
    if (options.duration !== undefined) params.duration_ms = options.duration;
    await this._phone._request('call.dtmf', params);
  }

  /**
   * Holds or resumes the call.
   * @param {boolean} [hold=true]
   */
  async hold(hold = true) {
    this._requireActive('hold');
    await this._phone._request('call.hold', { call: this.id, hold: !!hold });
    this.held = !!hold;
    this._emit('hold', { held: this.held, remote: false });
  }

  /** Resumes a held call. */
  unhold() {
    return this.hold(false);
  }

  /**
   * Blind transfer: connects the far end to `to` (a number or user, routed
   * as if dialled here) and leaves the call. Resolves once the target
   * answered; the call then ends with reason `transferred`. Rejects with
   * the target's failure (e.g. `sip_486_busy_here`), and the call goes on
   * with the far end as before.
   * @param {string} to
   */
  async transfer(to) {
    if (typeof to !== 'string' || to.length < 1 || to.length > 256) {
      throw new SwitchboardError(ErrorCode.INVALID_ARGUMENT, null, 'to must be 1-256 characters');
    }
    this._requireActive('transfer');
    // Answered when the target answers: it may ring up to the server's
    // ring timeout (60 s by default).
    await this._phone._request('call.transfer', { call: this.id, to }, { timeout: TRANSFER_TIMEOUT_MS });
  }

  /**
   * Consultative transfer, step one: the far end is held (music on hold)
   * and `to` (routed as if dialled here) rings in this same call. Resolves
   * once `to` answered: this client then talks with it. Then
   * `completeTransfer()` hands the far end over, or `endConsult()` comes
   * back to it. Rejects with the target's failure (e.g.
   * `sip_486_busy_here`), the far end resumed. Progress comes as `consult`
   * events.
   * @param {string} to
   */
  async consult(to) {
    if (typeof to !== 'string' || to.length < 1 || to.length > 256) {
      throw new SwitchboardError(ErrorCode.INVALID_ARGUMENT, null, 'to must be 1-256 characters');
    }
    this._requireActive('consult');
    await this._phone._request('call.consult', { call: this.id, to }, { timeout: TRANSFER_TIMEOUT_MS });
  }

  /**
   * Completes the consultation: the far end goes to the target, and this
   * call ends with reason `transferred`.
   */
  async completeTransfer() {
    this._requireActive('completeTransfer');
    await this._phone._request('call.transfer', { call: this.id });
  }

  /**
   * Ends the consultation (the target hangs up, or stops ringing) and
   * resumes the far end here.
   */
  async endConsult() {
    this._requireActive('endConsult');
    await this._phone._request('call.consult_end', { call: this.id });
  }

  /**
   * Sends a chat message to the other party of the call (a browser, a SIP
   * party by MESSAGE, every other member of a conference room) on the
   * call's data channel `chat`. Resolves once the channel took it; a SIP
   * party's refusal comes later as the `chatfailed` event.
   * @param {string} text 1-1024 bytes in UTF-8
   */
  async sendMessage(text) {
    if (typeof text !== 'string' || text.length < 1) {
      throw new SwitchboardError(ErrorCode.INVALID_ARGUMENT, null, 'text must be a non-empty string');
    }
    if (new TextEncoder().encode(text).length > CHAT_MAX_BYTES) {
      throw new SwitchboardError(ErrorCode.INVALID_ARGUMENT, null, `text must be at most ${CHAT_MAX_BYTES} bytes in UTF-8`);
    }
    if (!this.chatOpen) {
      throw this._invalid('sendMessage() needs an open chat channel (a call placed or answered with chat)');
    }
    this._chat.send(text);
  }

  // --- used by Phone -----------------------------------------------------------

  /** Places the call: local media, offer, `call.dial`. @internal */
  async _dial() {
    try {
      await this._setupMedia(this._options);
      // Before the offer, so that it carries m=application.
      if (this._options.chat) this._openChat();
      const offer = await this._pc.createOffer();
      await this._pc.setLocalDescription(offer);
      if (this.state === 'ended') return;
      const params = { to: this.remote, sdp: this._pc.localDescription.sdp };
      if (this._options.displayName !== undefined) params.display_name = this._options.displayName;
      if (this._options.video) params.video = true;
      const r = await this._phone._request('call.dial', params, { timeout: this._phone.dialTimeout });
      this.id = r.call;
      this._phone._track(this);
      if (this.state === 'ended') {
        // Hung up while call.dial was in flight: tell the server now.
        this._phone._request('call.hangup', { call: this.id }).catch(() => {});
        return;
      }
      this._flushLocalCandidates();
    } catch (err) {
      if (this.state !== 'ended') this._fail(toError(err, ErrorCode.MEDIA_ERROR));
    }
  }

  /** Handles a call event from the server. @internal */
  async _onEvent(name, data) {
    try {
      switch (name) {
        case 'call.progress':
          return await this._onProgress(data);
        case 'call.answered':
          return await this._onAnswered(data);
        case 'call.ice':
          return await this._onRemoteCandidate(data);
        case 'call.dtmf':
          this._emit('digit', { digit: data.digit, duration: data.duration_ms });
          return undefined;
        case 'call.hold':
          this.remoteHeld = !!data.hold;
          this._emit('hold', { held: this.remoteHeld, remote: true });
          return undefined;
        case 'call.consult': {
          const state = String(data.state || '');
          this.consultState = state === 'ringing' || state === 'answered' ? state : null;
          this._emit('consult', { state, reason: data.reason ? String(data.reason) : null });
          return undefined;
        }
        case 'call.conference':
          this.conference = {
            name: String(data.conference || ''),
            members: Array.isArray(data.members)
              ? data.members.map((m) => ({ call: String(m.call || ''), from: String(m.from || ''), muted: m.muted === true }))
              : [],
          };
          this._emit('conference', this.conference);
          return undefined;
        case 'call.chat_failed':
          this._emit('chatfailed', { status: Number(data.status) || 0 });
          return undefined;
        case 'call.ended':
          return this._onEnded(data);
        case 'call.resumed':
          return await this._onResumed(data);
        default:
          return undefined;
      }
    } catch (err) {
      this._emit('error', toError(err, ErrorCode.MEDIA_ERROR));
      return undefined;
    }
  }

  /** Ends the call without telling the server (session lost). @internal */
  _drop(reason, error) {
    this._close(reason, error);
  }

  // --- internals ---------------------------------------------------------------

  async _onProgress(data) {
    this.progressStatus = data.status;
    if (data.sdp && this._pc && !this._remoteDescribed) {
      // Early media: a provisional answer, replaced by the final one.
      await this._pc.setRemoteDescription({ type: 'pranswer', sdp: data.sdp });
      this._earlySdp = data.sdp;
      await this._drainRemoteCandidates();
    }
    if (this.state === 'dialing') this._setState('ringing');
    this._emit('ringing', { status: data.status, earlyMedia: !!data.sdp });
  }

  async _onAnswered(data) {
    if (this.state === 'active' || this.state === 'ended') return;
    if (this.direction === 'outgoing') {
      const sdp = data.sdp || this._earlySdp;
      if (!sdp) throw new SwitchboardError(ErrorCode.MEDIA_ERROR, null, 'answered without an SDP answer');
      await this._pc.setRemoteDescription({ type: 'answer', sdp });
      this._remoteDescribed = true;
      await this._drainRemoteCandidates();
    }
    this._becomeActive();
  }

  async _onRemoteCandidate(data) {
    const c = { candidate: data.candidate || '', sdpMid: data.sdp_mid ?? null, sdpMLineIndex: data.sdp_mline_index ?? null };
    if (c.sdpMid === null && c.sdpMLineIndex === null) c.sdpMLineIndex = 0;
    if (!this._pc || !this._pc.remoteDescription) {
      this._remoteCandidates.push(c);
      return;
    }
    await this._addCandidate(c);
  }

  async _drainRemoteCandidates() {
    for (const c of this._remoteCandidates.splice(0)) await this._addCandidate(c);
  }

  async _addCandidate(c) {
    try {
      await this._pc.addIceCandidate(c);
    } catch (err) {
      // An end-of-candidates marker is refused by some engines: not fatal.
      if (c.candidate) this._emit('error', toError(err, ErrorCode.MEDIA_ERROR));
    }
  }

  /*
   * The session came back after a dropped socket. For a call that is up,
   * an `sdp` is the server's ICE restart offer (the client's address
   * changed): it is answered with call.answer on the same peer connection
   * (the DTLS association stays), and the new local candidates wait until
   * the answer is out, as for any answer. For a call still ringing here it
   * is the offer again.
   */
  async _onResumed(data) {
    if (this.state === 'ended') return;
    if (data.sdp && this.state === 'incoming') this._remoteOffer = data.sdp;
    const restart = !!data.sdp && this.state === 'active' && !!this._pc;
    if (restart) {
      this._candidatesFlushed = false;
      try {
        await this._pc.setRemoteDescription({ type: 'offer', sdp: data.sdp });
        await this._drainRemoteCandidates();
        const answer = await this._pc.createAnswer();
        await this._pc.setLocalDescription(answer);
        if (this.state === 'ended') return;
        await this._phone._request('call.answer', { call: this.id, sdp: this._pc.localDescription.sdp });
      } finally {
        this._flushLocalCandidates();
      }
    }
    this._emit('resumed', { state: data.state, iceRestart: restart });
  }

  _onEnded(data) {
    const reason = END_REASONS.has(data.reason) ? data.reason : 'failed';
    const error = data.error ? SwitchboardError.fromServer(data.error) : null;
    this._close(reason, error);
  }

  async _setupMedia(options) {
    const pcConfig = { ...(this._phone.rtcConfiguration || {}) };
    this._pc = new RTCPeerConnection(pcConfig);
    this._pc.onicecandidate = (ev) => this._onLocalCandidate(ev.candidate);
    this._pc.ontrack = (ev) => {
      const stream = ev.streams && ev.streams[0] ? ev.streams[0] : new MediaStream([ev.track]);
      if (this.remoteStream !== stream) {
        this.remoteStream = stream;
        this._emit('track', { track: ev.track, stream });
      }
    };
    // A chat channel the other side opened (none of ours yet).
    this._pc.ondatachannel = (ev) => {
      if (ev.channel.label === 'chat' && !this._chat) this._attachChat(ev.channel);
    };
    this._pc.onconnectionstatechange = () => {
      this._emit('mediastate', this._pc.connectionState);
    };
    let stream = options.stream || null;
    if (!stream) {
      const audio = options.audio === undefined ? true : options.audio;
      const video = options.video || false;
      try {
        stream = await navigator.mediaDevices.getUserMedia({ audio, video });
      } catch (cause) {
        throw new SwitchboardError(ErrorCode.MEDIA_ERROR, null, `getUserMedia failed: ${cause && cause.name}`, { cause });
      }
      this._ownStream = true;
    }
    this.localStream = stream;
    for (const t of stream.getTracks()) {
      if (t.kind === 'audio') t.enabled = !this._muted;
      this._pc.addTrack(t, stream);
    }
  }

  _openChat() {
    if (!this._chat) this._attachChat(this._pc.createDataChannel('chat', { ordered: true }));
  }

  _attachChat(channel) {
    this._chat = channel;
    channel.onopen = () => this._emit('chatopen');
    channel.onmessage = (ev) => {
      if (typeof ev.data === 'string') this._emit('message', { text: ev.data });
    };
  }

  _onLocalCandidate(cand) {
    /* Trickle ICE (section 4.2, call.ice): candidates found before the call
     * has its server id wait; null from the browser is end-of-candidates. */
    const c = cand
      ? { candidate: cand.candidate, sdp_mid: cand.sdpMid ?? undefined, sdp_mline_index: cand.sdpMLineIndex ?? undefined }
      : { candidate: '' };
    if (!this._candidatesFlushed) this._localCandidates.push(c);
    else this._sendCandidate(c);
  }

  _flushLocalCandidates() {
    this._candidatesFlushed = true;
    for (const c of this._localCandidates.splice(0)) this._sendCandidate(c);
  }

  _sendCandidate(c) {
    if (this.state === 'ended') return;
    const params = { call: this.id, candidate: c.candidate };
    if (c.sdp_mid !== undefined && c.sdp_mid !== null) params.sdp_mid = c.sdp_mid;
    if (c.sdp_mline_index !== undefined && c.sdp_mline_index !== null) params.sdp_mline_index = c.sdp_mline_index;
    this._phone._request('call.ice', params).catch((err) => this._emit('error', err));
  }

  _becomeActive() {
    if (this.state === 'active' || this.state === 'ended') return;
    this._setState('active');
    this._emit(this.direction === 'outgoing' ? 'answered' : 'accepted', this);
  }

  async _end(localReason, error, wireReason) {
    if (this.state === 'ended') return;
    const id = this.id;
    this._close(localReason, error);
    if (!id) return; // call.dial still in flight: _dial() hangs up when it returns
    const params = { call: id };
    if (wireReason) params.reason = wireReason;
    try {
      await this._phone._request('call.hangup', params);
    } catch (err) {
      // The call is over here either way; call_not_found means the server agrees.
      if (err.code !== ErrorCode.CALL_NOT_FOUND) this._emit('error', err);
    }
  }

  _fail(error) {
    this._emit('error', error);
    if (this.id) this._phone._request('call.hangup', { call: this.id }).catch(() => {});
    this._close('failed', error);
  }

  _close(reason, error) {
    if (this.state === 'ended') return;
    this.endReason = reason;
    this.error = error || null;
    if (this._pc) {
      try {
        this._pc.close();
      } catch {
        /* Already closed. */
      }
    }
    if (this._ownStream && this.localStream) for (const t of this.localStream.getTracks()) t.stop();
    this._setState('ended');
    this._phone._untrack(this);
    this._emit('ended', { reason, error: this.error });
  }

  _setState(state) {
    const prev = this.state;
    if (prev === state) return;
    this.state = state;
    this._emit('statechange', state, prev);
  }

  _requireActive(what) {
    if (this.state !== 'active' || !this.id) throw this._invalid(`${what}() needs an active call`);
  }

  _invalid(message) {
    return new SwitchboardError(ErrorCode.INVALID_STATE, null, message);
  }
}

function toError(err, fallbackCode) {
  if (err instanceof SwitchboardError) return err;
  return new SwitchboardError(fallbackCode, null, (err && err.message) || String(err), { cause: err });
}
