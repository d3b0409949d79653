// The connection core of the Switchboard SDK: one WebSocket speaking protocol
// v1 (docs/protocol.md), with the hello handshake, requests with ids and
// timeouts, server events, keepalive, and reconnection with exponential
// backoff and jitter that resumes the session with its resume token.

import { Emitter } from './emitter.js';
import { ErrorCode, SwitchboardError, codeOfName } from './errors.js';

/** The WebSocket subprotocol of protocol version 1. */
export const SUBPROTOCOL = 'switchboard.v1';
/** The protocol version sent in `hello`. */
export const PROTOCOL_VERSION = 1;

const DEFAULT_RECONNECT = Object.freeze({
  initialDelay: 500,
  maxDelay: 30000,
  factor: 2,
  jitter: 0.5,
  maxAttempts: Infinity,
});

/* Close codes after which the SDK does not reconnect (protocol section 3.1),
 * with the error it reports. Any other close (1001 going away, 4008 idle,
 * 1006 abnormal, ...) is a dropped socket and leads to a reconnection. */
const FINAL_CLOSES = {
  1000: [ErrorCode.CLOSED_BY_SERVER, 'the server closed the session'],
  4001: [ErrorCode.AUTH_INVALID_TOKEN, 'authentication failed'],
  4002: [ErrorCode.PROTOCOL_VIOLATION, 'too many protocol violations'],
  4009: [ErrorCode.SESSION_TAKEN_OVER, 'the session was resumed on another connection'],
};

function defaultUrl() {
  if (typeof location === 'undefined' || !location.host) return undefined;
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
}

/**
 * Computes the delay before reconnection attempt `attempt` (1-based):
 * exponential growth capped at `maxDelay`, less a random share of up to
 * `jitter` of it so that many clients dropped together spread out.
 * @param {number} attempt
 * @param {typeof DEFAULT_RECONNECT} policy
 * @param {() => number} [random]
 */
export function backoffDelay(attempt, policy, random = Math.random) {
  const base = Math.min(policy.maxDelay, policy.initialDelay * policy.factor ** Math.max(0, attempt - 1));
  return Math.round(base * (1 - policy.jitter * random()));
}

/**
 * One logical connection to Switchboard that outlives its WebSockets.
 *
 * States: `idle` (never opened), `connecting` (first attempt), `connected`,
 * `reconnecting` (dropped, retrying), `disconnected` (closed for good; `open()`
 * may start again).
 */
export class Connection extends Emitter {
  /** @param {import('./index.js').PhoneOptions} options */
  constructor(options = {}) {
    super();
    const url = options.url || defaultUrl();
    if (!url) throw new SwitchboardError(ErrorCode.INVALID_ARGUMENT, null, 'options.url is required');
    if (!options.token && typeof options.getToken !== 'function') {
      throw new SwitchboardError(ErrorCode.INVALID_ARGUMENT, null, 'options.token or options.getToken is required');
    }
    this.url = url;
    this._token = options.token || null;
    this._getToken = typeof options.getToken === 'function' ? options.getToken : null;
    this._WebSocket = options.WebSocket || globalThis.WebSocket;
    this.requestTimeout = options.requestTimeout ?? 10000;
    this.connectTimeout = options.connectTimeout ?? 10000;
    this.reconnectPolicy = { ...DEFAULT_RECONNECT, ...(options.reconnect || {}) };
    this.reconnectEnabled = options.reconnect !== false;
    /** @type {'idle'|'connecting'|'connected'|'reconnecting'|'disconnected'} */
    this.state = 'idle';
    /** Session id (`s-...`) while a session exists. */
    this.session = null;
    /** `{user, displayName, mayDial}` once authenticated. */
    this.identity = null;
    /** The server's limits from `hello`. */
    this.limits = null;
    /** Keepalive figures from `hello`, in milliseconds. */
    this.pingInterval = 0;
    this.idleTimeout = 0;
    this.resumeWindow = 0;
    /** Reconnection attempts since the socket dropped (0 when connected). */
    this.reconnectAttempt = 0;
    this._resumeToken = null;
    this._ws = null;
    this._gen = 0;
    this._nextId = 1;
    this._pending = new Map();
    this._queue = [];
    this._outbox = [];
    this._sent = [];
    this._timers = { reconnect: null, keepalive: null, pump: null };
    this._lastRx = 0;
    this._closing = null;
    this._droppedAt = 0;
    this._onOnline = () => this._retryNow();
    if (typeof addEventListener === 'function') addEventListener('online', this._onOnline);
  }

  /** Replaces the static token used by later connection attempts. */
  updateToken(token) {
    if (typeof token !== 'string' || !token) {
      throw new SwitchboardError(ErrorCode.INVALID_ARGUMENT, null, 'token must be a non-empty string');
    }
    this._token = token;
  }

  /**
   * Opens the connection and authenticates. Resolves with
   * `{session, identity, resumed}`; rejects with a SwitchboardError (an auth
   * error, `connection_failed`, `timeout`, ...) and the state becomes
   * `disconnected`. Calling it while connected resolves at once.
   */
  async open() {
    if (this.state === 'connected') return this._info(false);
    if (this.state === 'connecting' && this._opening) return this._opening;
    if (this.state === 'reconnecting') return this._waitConnected();
    this._clearTimer('reconnect');
    this.reconnectAttempt = 0;
    this._setState('connecting');
    this._opening = this._attempt().then(
      (info) => {
        this._opening = null;
        return info;
      },
      (err) => {
        this._opening = null;
        this._finish(err);
        throw err;
      },
    );
    return this._opening;
  }

  /**
   * Ends the session (`bye`, so it cannot be resumed) and closes the socket.
   * The state becomes `disconnected`. Never rejects.
   */
  async close() {
    this._clearTimer('reconnect');
    const ws = this._ws;
    if (this.state === 'connected' && ws) {
      try {
        await this._request('bye', {}, { timeout: 2000, ws });
      } catch {
        /* The socket closes anyway. */
      }
    }
    this._finish(null, 1000, 'client closed');
  }

  /**
   * Sends a request and resolves with its result, or rejects with a
   * SwitchboardError: the server's error, `timeout` after `options.timeout`
   * ms, `connection_lost` if the socket dropped before the answer, or
   * `not_connected`. While reconnecting, requests wait for the connection
   * (within their timeout).
   * @param {string} method
   * @param {object} [params]
   * @param {{timeout?: number}} [options]
   */
  request(method, params = {}, options = {}) {
    if (this.state === 'connected') return this._request(method, params, options);
    if (this.state === 'reconnecting' || this.state === 'connecting') {
      return new Promise((resolve, reject) => {
        const timeout = options.timeout ?? this.requestTimeout;
        this._enqueueWaiting({ method, params, resolve, reject, deadline: Date.now() + timeout });
      });
    }
    return Promise.reject(new SwitchboardError(ErrorCode.NOT_CONNECTED, null, `${method}: not connected`, { method }));
  }

  /** Round trip to the server; resolves with `{timeMs, rttMs}`. */
  async ping() {
    const t0 = Date.now();
    const r = await this.request('ping', {});
    return { timeMs: r.time_ms, rttMs: Date.now() - t0 };
  }

  /** Detaches from the page (online listener) after `close()`. */
  destroy() {
    this._finish(null, 1000, 'client closed');
    if (typeof removeEventListener === 'function') removeEventListener('online', this._onOnline);
    this.removeAllListeners();
  }

  // --- attempts --------------------------------------------------------------

  async _attempt() {
    const gen = ++this._gen;
    const token = await this._fetchToken();
    if (gen !== this._gen) throw this._superseded();
    const ws = await this._openSocket(gen);
    let result;
    try {
      try {
        result = await this._hello(ws, token, this._resumeToken);
      } catch (err) {
        if (err.code !== ErrorCode.RESUME_FAILED) throw err;
        // Section 3, step 6: the socket stays open; start a new session on it.
        this._sessionLost(err);
        result = await this._hello(ws, token, null);
      }
      if (gen !== this._gen) throw this._superseded();
    } catch (err) {
      this._abandon(ws);
      throw err;
    }
    return this._onHello(result);
  }

  async _fetchToken() {
    if (!this._getToken) return this._token;
    let token;
    try {
      token = await this._getToken();
    } catch (cause) {
      throw new SwitchboardError(ErrorCode.TOKEN_UNAVAILABLE, null, `getToken failed: ${cause && cause.message}`, { cause });
    }
    if (typeof token !== 'string' || !token) {
      throw new SwitchboardError(ErrorCode.TOKEN_UNAVAILABLE, null, 'getToken did not return a token');
    }
    return token;
  }

  _openSocket(gen) {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new this._WebSocket(this.url, SUBPROTOCOL);
      } catch (cause) {
        reject(new SwitchboardError(ErrorCode.CONNECTION_FAILED, null, `cannot open ${this.url}`, { cause }));
        return;
      }
      this._ws = ws;
      this._closing = null;
      let opened = false;
      const timer = setTimeout(() => {
        if (opened) return;
        this._abandon(ws);
        reject(new SwitchboardError(ErrorCode.TIMEOUT, null, `no connection to ${this.url} within ${this.connectTimeout} ms`));
      }, this.connectTimeout);
      ws.onopen = () => {
        opened = true;
        clearTimeout(timer);
        if (gen !== this._gen || ws.protocol !== SUBPROTOCOL) {
          this._abandon(ws);
          reject(gen !== this._gen ? this._superseded()
            : new SwitchboardError(ErrorCode.CONNECTION_FAILED, null, `server did not accept subprotocol ${SUBPROTOCOL}`));
          return;
        }
        this._lastRx = Date.now();
        resolve(ws);
      };
      ws.onmessage = (ev) => this._onMessage(ws, ev);
      ws.onerror = () => {
        /* A close event always follows; it carries what can be known. */
      };
      ws.onclose = (ev) => {
        clearTimeout(timer);
        if (!opened) {
          if (this._ws === ws) this._ws = null;
          reject(new SwitchboardError(ErrorCode.CONNECTION_FAILED, null, `cannot connect to ${this.url} (close ${ev.code})`));
          return;
        }
        this._onSocketLost(ws, ev.code, ev.reason);
      };
    });
  }

  _hello(ws, token, resume) {
    const params = { version: PROTOCOL_VERSION, token };
    if (resume) params.resume = resume;
    return this._request('hello', params, { ws, timeout: this.requestTimeout });
  }

  _onHello(r) {
    const wasSession = this.session;
    this.session = r.session;
    this._resumeToken = r.resume_token;
    this.identity = r.identity
      ? { user: r.identity.user, displayName: r.identity.display_name, mayDial: r.identity.may_dial || [] }
      : null;
    this.limits = r.limits || null;
    this.pingInterval = r.ping_interval_ms || 20000;
    this.idleTimeout = r.idle_timeout_ms || 60000;
    this.resumeWindow = r.resume_window_ms || 0;
    if (wasSession && !r.resumed && wasSession !== r.session) {
      this._sessionLost(new SwitchboardError(ErrorCode.RESUME_FAILED, null, 'the session was not resumed'), wasSession);
    }
    this.reconnectAttempt = 0;
    this._startKeepalive();
    const info = this._info(!!r.resumed);
    this._setState('connected');
    this._emit('connected', info);
    this._flushQueue();
    return info;
  }

  _info(resumed) {
    return { session: this.session, identity: this.identity, resumed, limits: this.limits };
  }

  _sessionLost(error, previous = this.session) {
    if (!previous) return;
    this.session = null;
    this._resumeToken = null;
    this._emit('sessionlost', { session: previous, error });
  }

  // --- socket loss, reconnection ----------------------------------------------

  _onSocketLost(ws, code, reason) {
    if (ws !== this._ws) return;
    this._ws = null;
    this._stopKeepalive();
    const closing = this._closing;
    this._closing = null;
    const final = FINAL_CLOSES[code];
    const willRetry = this.state === 'connected' && !final && this.reconnectEnabled;
    this._failPending(ws, new SwitchboardError(ErrorCode.CONNECTION_LOST, null, `connection lost (close ${code})`), willRetry);
    if (this.state !== 'connected') return; // an attempt in progress rejects by itself
    if (final) {
      // The close reason names the cause (section 3.1): an auth error name after 4001.
      const name = (closing && closing.name) || reason || '';
      const err = code === 4001 && name
        ? new SwitchboardError(codeOfName(name) ?? ErrorCode.AUTH_INVALID_TOKEN, name, `authentication failed: ${name}`)
        : new SwitchboardError(final[0], null, `${final[1]}${name ? ` (${name})` : ''}`);
      this._finish(err, code, reason);
      return;
    }
    this._droppedAt = Date.now();
    this._scheduleReconnect(new SwitchboardError(ErrorCode.CONNECTION_LOST, null, `connection lost (close ${code}${reason ? ` ${reason}` : ''})`), code);
  }

  _scheduleReconnect(error, closeCode) {
    if (!this.reconnectEnabled) {
      this._finish(error, closeCode);
      return;
    }
    const attempt = ++this.reconnectAttempt;
    if (attempt > this.reconnectPolicy.maxAttempts) {
      this._finish(error, closeCode);
      return;
    }
    const delay = backoffDelay(attempt, this.reconnectPolicy);
    this._setState('reconnecting');
    this._emit('reconnecting', { attempt, delay, error, session: this.session });
    this._clearTimer('reconnect');
    this._timers.reconnect = setTimeout(() => this._reconnect(), delay);
  }

  _retryNow() {
    if (this.state === 'reconnecting' && this._timers.reconnect) {
      this._clearTimer('reconnect');
      this._reconnect();
    }
  }

  _reconnect() {
    this._timers.reconnect = null;
    this._attempt().catch((err) => {
      if (this.state !== 'reconnecting' || err.code === ErrorCode.INVALID_STATE) return;
      // A rejected token does not get better by retrying: stop and say why.
      if (err.isAuthError) this._finish(err);
      else this._scheduleReconnect(err);
    });
  }

  /** Ends everything: state `disconnected`, nothing pending, no timers. */
  _finish(error, code, reason) {
    this._gen++;
    this._clearTimer('reconnect');
    this._clearTimer('pump');
    this._stopKeepalive();
    const ws = this._ws;
    this._ws = null;
    if (ws) this._abandon(ws, code === 1000 ? 1000 : undefined);
    const lost = error || new SwitchboardError(ErrorCode.NOT_CONNECTED, null, 'disconnected');
    this._failPending(null, lost);
    for (const e of this._queue.splice(0)) {
      clearTimeout(e.timer);
      e.reject(lost);
    }
    const hadSession = this.session;
    this.session = null;
    this._resumeToken = null;
    this.reconnectAttempt = 0;
    if (this.state === 'disconnected' || this.state === 'idle') {
      if (this.state === 'idle' && error) this._setState('disconnected');
      return;
    }
    this._setState('disconnected');
    this._emit('disconnected', { error: error || null, code: code ?? null, reason: reason || '', session: hadSession });
  }

  _abandon(ws, code) {
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    try {
      ws.close(code || 4000, code === 1000 ? 'bye' : 'client gave up on this socket');
    } catch {
      /* Already closed. */
    }
    if (this._ws === ws) this._ws = null;
  }

  _superseded() {
    return new SwitchboardError(ErrorCode.INVALID_STATE, null, 'connection attempt superseded');
  }

  _waitConnected() {
    return new Promise((resolve, reject) => {
      const onConn = (info) => {
        this.off('disconnected', onDisc);
        resolve(info);
      };
      const onDisc = (d) => {
        this.off('connected', onConn);
        reject(d.error || new SwitchboardError(ErrorCode.NOT_CONNECTED, null, 'disconnected'));
      };
      this.once('connected', onConn);
      this.once('disconnected', onDisc);
    });
  }

  // --- keepalive ---------------------------------------------------------------

  /* Section 3, step 4: a page cannot see WebSocket pings, so the client sends
   * the ping method every ping interval and treats silence for the idle
   * timeout as a dead connection. */
  _startKeepalive() {
    this._stopKeepalive();
    const ws = this._ws;
    this._timers.keepalive = setInterval(() => {
      if (ws !== this._ws) return;
      if (Date.now() - this._lastRx > this.idleTimeout) {
        this._onSocketLost(ws, 4008, 'keepalive_timeout');
        this._abandon(ws);
        return;
      }
      this._request('ping', {}, { ws, timeout: this.idleTimeout }).catch(() => {});
    }, Math.max(50, Math.min(this.pingInterval, this.idleTimeout / 2)));
  }

  _stopKeepalive() {
    this._clearTimer('keepalive');
  }

  _clearTimer(name) {
    if (this._timers[name]) {
      clearTimeout(this._timers[name]);
      clearInterval(this._timers[name]);
      this._timers[name] = null;
    }
  }

  // --- messages ----------------------------------------------------------------

  /* Requests go through an outbox that keeps within the server's limits from
   * `hello` (section 8): at most max_pending - 2 unanswered (room for the
   * keepalive) and max_msgs_per_sec - 2 sent in any second, so that a burst
   * from the application waits here instead of being refused with an error
   * that carries no id. */
  _request(method, params, options = {}) {
    const ws = options.ws || this._ws;
    return new Promise((resolve, reject) => {
      if (!ws || ws.readyState !== 1) {
        reject(new SwitchboardError(ErrorCode.NOT_CONNECTED, null, `${method}: not connected`, { method }));
        return;
      }
      const timeout = options.timeout ?? this.requestTimeout;
      const entry = { ws, method, params, resolve, reject, id: null, deadline: Date.now() + timeout, attempt: !!options.ws, timer: null };
      entry.timer = setTimeout(() => {
        if (entry.id) this._pending.delete(entry.id);
        else this._outbox = this._outbox.filter((e) => e !== entry);
        reject(new SwitchboardError(ErrorCode.TIMEOUT, null, `${method}: no answer within ${timeout} ms`, { method, requestId: entry.id || undefined }));
        this._pump();
      }, timeout);
      this._outbox.push(entry);
      this._pump();
    });
  }

  _pump() {
    this._clearTimer('pump');
    while (this._outbox.length) {
      const wait = this._paceDelay();
      if (wait === Infinity) return; // a response will call _pump again
      if (wait > 0) {
        this._timers.pump = setTimeout(() => this._pump(), wait);
        return;
      }
      this._transmit(this._outbox.shift());
    }
  }

  _paceDelay() {
    const lim = this.limits;
    if (!lim) return 0;
    if (this._pending.size >= Math.max(1, lim.max_pending - 2)) return Infinity;
    const now = Date.now();
    while (this._sent.length && now - this._sent[0] >= 1000) this._sent.shift();
    if (this._sent.length < Math.max(1, lim.max_msgs_per_sec - 2)) return 0;
    return this._sent[0] + 1000 - now + 1;
  }

  _transmit(entry) {
    const id = String(this._nextId++);
    entry.id = id;
    this._pending.set(id, entry);
    this._sent.push(Date.now());
    try {
      entry.ws.send(JSON.stringify({ type: 'request', id, method: entry.method, params: entry.params }));
    } catch (cause) {
      clearTimeout(entry.timer);
      this._pending.delete(id);
      entry.reject(new SwitchboardError(ErrorCode.CONNECTION_LOST, null, `${entry.method}: send failed`, { method: entry.method, requestId: id, cause }));
    }
  }

  _enqueueWaiting(e) {
    const left = e.deadline - Date.now();
    e.timer = setTimeout(() => {
      this._queue = this._queue.filter((x) => x !== e);
      e.reject(new SwitchboardError(ErrorCode.TIMEOUT, null, `${e.method}: no connection in time`, { method: e.method }));
    }, Math.max(0, left));
    this._queue.push(e);
  }

  _flushQueue() {
    for (const e of this._queue.splice(0)) {
      clearTimeout(e.timer);
      this._request(e.method, e.params, { timeout: Math.max(1, e.deadline - Date.now()) }).then(e.resolve, e.reject);
    }
  }

  /* The socket is gone: requests sent on it fail (they may have run, so they
   * are never sent twice); requests not yet sent wait for the next connection
   * when `requeue` is true. */
  _failPending(ws, error, requeue = false) {
    for (const [id, e] of this._pending) {
      if (ws && e.ws !== ws) continue;
      clearTimeout(e.timer);
      this._pending.delete(id);
      e.reject(new SwitchboardError(error.code, error.name, `${e.method}: ${error.message}`, { method: e.method, requestId: id }));
    }
    const keep = [];
    for (const e of this._outbox) {
      if (ws && e.ws !== ws) {
        keep.push(e);
        continue;
      }
      clearTimeout(e.timer);
      if (requeue && !e.attempt) this._enqueueWaiting(e);
      else e.reject(new SwitchboardError(error.code, error.name, `${e.method}: ${error.message}`, { method: e.method }));
    }
    this._outbox = keep;
  }

  _onMessage(ws, ev) {
    if (ws !== this._ws) return;
    this._lastRx = Date.now();
    let msg;
    try {
      msg = JSON.parse(typeof ev.data === 'string' ? ev.data : '');
    } catch {
      this._emit('error', new SwitchboardError(ErrorCode.PARSE_ERROR, 'server_parse_error', 'the server sent a message that is not JSON'));
      return;
    }
    if (!msg || typeof msg !== 'object') return;
    if (msg.type === 'response') this._onResponse(msg);
    else if (msg.type === 'event' && typeof msg.event === 'string') this._onEvent(msg.event, msg.data || {});
    /* Unknown kinds are ignored (section 11). */
  }

  _onResponse(msg) {
    const entry = msg.id != null ? this._pending.get(msg.id) : undefined;
    if (!entry) {
      if (msg.id === null && msg.error) this._onUnmatchedError(SwitchboardError.fromServer(msg.error));
      return;
    }
    clearTimeout(entry.timer);
    this._pending.delete(msg.id);
    if (msg.error) entry.reject(SwitchboardError.fromServer(msg.error, { method: entry.method, requestId: msg.id }));
    else entry.resolve(msg.result || {});
    this._pump();
  }

  /* An error with id null (section 2.2): the server refused one of our
   * messages unread. Session methods are answered in order, so when such an
   * error arrives every session request sent before the refused one has its
   * answer: the refused request is the oldest unanswered one that is not a
   * call method (call methods wait for the engine and may be older). A
   * refused call method cannot be told apart; it runs into its timeout. */
  _onUnmatchedError(err) {
    for (const [id, e] of this._pending) {
      if (e.method.startsWith('call.')) continue;
      clearTimeout(e.timer);
      this._pending.delete(id);
      e.reject(new SwitchboardError(err.code, err.name, err.message, { method: e.method, requestId: id }));
      this._pump();
      return;
    }
    this._emit('error', err);
  }

  _onEvent(name, data) {
    if (name === 'session.closing') this._closing = { code: data.code, name: data.name };
    this._emit('event', name, data);
  }

  _setState(state) {
    if (state === this.state) return;
    const prev = this.state;
    this.state = state;
    this._emit('statechange', state, prev);
    // 'connected', 'reconnecting' and 'disconnected' are emitted with their details by the callers.
    if (state === 'connecting') this._emit('connecting');
  }
}
