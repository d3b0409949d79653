// Phone: the device-like client of the Switchboard SDK. It owns one
// Connection (connect, authenticate, keep alive, reconnect and resume) and
// the calls of its session, and turns server events into call events.

import { Call } from './call.js';
import { Connection } from './connection.js';
import { ErrorCode, SwitchboardError } from './errors.js';
import { Emitter } from './emitter.js';

const FORWARDED = ['connecting', 'connected', 'reconnecting', 'disconnected', 'statechange', 'sessionlost', 'error'];

/**
 * A phone registered with Switchboard: it places calls and receives them.
 *
 * Events: `connecting`, `connected` ({session, identity, resumed}),
 * `reconnecting` ({attempt, delay, error}), `disconnected` ({error, code,
 * reason}), `statechange` (state, previous), `sessionlost` ({session, error}),
 * `incoming` (call), `error` (SwitchboardError), `event` (name, data).
 */
export class Phone extends Emitter {
  /** @param {import('./index.js').PhoneOptions} options */
  constructor(options = {}) {
    super();
    this._conn = new Connection(options);
    this.rtcConfiguration = options.rtcConfiguration || (options.iceServers ? { iceServers: options.iceServers } : {});
    this.dialTimeout = options.dialTimeout ?? 30000;
    /** @type {Map<string, Call>} */
    this._calls = new Map();
    /** @type {Set<Call>} outgoing calls not yet given an id */
    this._dialing = new Set();
    // Calls end before the phone reports the session lost or disconnected.
    this._conn.on('sessionlost', ({ error }) => this._dropAllCalls(error));
    this._conn.on('disconnected', ({ error }) => this._dropAllCalls(error));
    for (const name of FORWARDED) this._conn.on(name, (...args) => this._emit(name, ...args));
    this._conn.on('event', (name, data) => this._onServerEvent(name, data));
  }

  /** `idle`, `connecting`, `connected`, `reconnecting` or `disconnected`. */
  get state() {
    return this._conn.state;
  }

  /** The session id while there is one. */
  get session() {
    return this._conn.session;
  }

  /** `{user, displayName, mayDial}` once connected. */
  get identity() {
    return this._conn.identity;
  }

  /** The server's per-connection limits from `hello`. */
  get limits() {
    return this._conn.limits;
  }

  /** Reconnection attempts since the socket dropped (0 when connected). */
  get reconnectAttempt() {
    return this._conn.reconnectAttempt;
  }

  /** The server's keepalive and resume figures, in milliseconds. */
  get timing() {
    const c = this._conn;
    return { pingInterval: c.pingInterval, idleTimeout: c.idleTimeout, resumeWindow: c.resumeWindow };
  }

  /** Calls in progress. @type {Call[]} */
  get calls() {
    return [...this._dialing, ...this._calls.values()];
  }

  /**
   * Connects and authenticates. Resolves with `{session, identity, resumed}`;
   * rejects with a SwitchboardError (for example `auth_expired`).
   */
  connect() {
    return this._conn.open();
  }

  /**
   * Makes the phone reachable: once connected, calls for its user arrive in
   * the `incoming` event. Same as `connect()`.
   */
  register() {
    return this.connect();
  }

  /** Ends the session (no resume), hangs up every call, closes the socket. */
  async disconnect() {
    const calls = this.calls;
    await Promise.all(calls.map((c) => c.hangup().catch(() => {})));
    await this._conn.close();
  }

  /** Replaces the token used by later (re)connections. */
  updateToken(token) {
    this._conn.updateToken(token);
  }

  /** Round trip to the server: `{timeMs, rttMs}`. */
  ping() {
    return this._conn.ping();
  }

  /**
   * Tells the server whether this device takes queue calls (`presence.set`,
   * docs/protocol.md section 4.3): `'available'` or `'away'`. Queues do not
   * offer callers to a device that is away; direct calls still ring it.
   * Kept across a resume of the session, not across a new one.
   * @param {'available'|'away'} state
   * @returns {Promise<void>}
   */
  setPresence(state) {
    return this._conn.request('presence.set', { state }).then(() => undefined);
  }

  /**
   * Sends a raw protocol request (docs/protocol.md section 4).
   * @param {string} method
   * @param {object} [params]
   * @param {{timeout?: number}} [options]
   */
  request(method, params, options) {
    return this._conn.request(method, params, options);
  }

  /**
   * Places a call. Returns the Call at once; follow it with its events
   * (`ringing`, `answered`, `ended`, `error`).
   * @param {string} destination a user, a number or a SIP URI
   * @param {{displayName?: string, video?: boolean, audio?: boolean|MediaTrackConstraints, stream?: MediaStream, chat?: boolean}} [options]
   *   `chat`: open the data channel `chat` for `call.sendMessage()` and the `message` event
   * @returns {Call}
   */
  call(destination, options = {}) {
    if (typeof destination !== 'string' || destination.length < 1 || destination.length > 256 || /[\r\n\0]/.test(destination)) {
      throw new SwitchboardError(ErrorCode.INVALID_ARGUMENT, null, 'destination must be 1-256 characters without CR, LF or NUL');
    }
    const call = new Call(this, 'outgoing', { to: destination, options });
    this._dialing.add(call);
    // Let the caller attach listeners before anything can happen.
    Promise.resolve().then(() => call._dial());
    return call;
  }

  /** Forgets the phone's listeners and page hooks after `disconnect()`. */
  destroy() {
    this._conn.destroy();
    this.removeAllListeners();
  }

  // --- used by Call --------------------------------------------------------------

  /** @internal */
  _request(method, params, options) {
    return this._conn.request(method, params, options);
  }

  /** @internal */
  _track(call) {
    this._dialing.delete(call);
    if (call.state !== 'ended') this._calls.set(call.id, call);
  }

  /** @internal */
  _untrack(call) {
    this._dialing.delete(call);
    if (call.id && this._calls.get(call.id) === call) this._calls.delete(call.id);
  }

  // --- internals -------------------------------------------------------------------

  _onServerEvent(name, data) {
    this._emit('event', name, data);
    if (!name.startsWith('call.') || !data || typeof data.call !== 'string') return;
    if (name === 'call.incoming') {
      if (this._calls.has(data.call)) return;
      const call = new Call(this, 'incoming', { id: data.call, from: data.from, displayName: data.display_name, sdp: data.sdp });
      this._calls.set(call.id, call);
      this._emit('incoming', call);
      return;
    }
    const call = this._calls.get(data.call);
    if (call) call._onEvent(name, data);
  }

  _dropAllCalls(error) {
    const err = error || new SwitchboardError(ErrorCode.NOT_CONNECTED, null, 'disconnected');
    for (const call of this.calls) call._drop('failed', err);
  }
}
