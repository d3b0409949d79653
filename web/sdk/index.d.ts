// Type declarations of the Switchboard browser SDK (hand-written; the
// JavaScript in this folder is the implementation). See docs/sdk.md.

export declare const VERSION: string;
/** The WebSocket subprotocol, `switchboard.v1`. */
export declare const SUBPROTOCOL: 'switchboard.v1';
export declare const PROTOCOL_VERSION: 1;

/** Error codes: the server's (docs/protocol.md section 5) and the SDK's own (9000-9099). */
export declare const ErrorCode: Readonly<{
  PARSE_ERROR: 1000; INVALID_MESSAGE: 1001; UNKNOWN_METHOD: 1002; INVALID_PARAMS: 1003;
  UNSAFE_TEXT: 1004; FRAME_TOO_LARGE: 1005; RATE_LIMITED: 1006; TOO_MANY_PENDING: 1007;
  NOT_AUTHENTICATED: 1008; ALREADY_AUTHENTICATED: 1009; UNSUPPORTED_VERSION: 1010;
  BINARY_NOT_SUPPORTED: 1011;
  AUTH_INVALID_TOKEN: 2000; AUTH_EXPIRED: 2001; AUTH_NOT_YET_VALID: 2002; AUTH_BAD_AUDIENCE: 2003;
  AUTH_BAD_ISSUER: 2004; AUTH_ALGORITHM_REFUSED: 2005; AUTH_BAD_SIGNATURE: 2006; RESUME_FAILED: 2010;
  NOT_AVAILABLE: 3000; CALL_NOT_FOUND: 3001; NOT_ALLOWED: 3002; TOO_MANY_CALLS: 3003; OVERLOADED: 3004;
  INTERNAL_ERROR: 5000; DRAINING: 5001;
  TIMEOUT: 9000; CONNECTION_FAILED: 9001; CONNECTION_LOST: 9002; NOT_CONNECTED: 9003;
  TOKEN_UNAVAILABLE: 9004; INVALID_ARGUMENT: 9005; MEDIA_ERROR: 9006; SESSION_TAKEN_OVER: 9007;
  PROTOCOL_VIOLATION: 9008; INVALID_STATE: 9009; CLOSED_BY_SERVER: 9010;
}>;

export type ErrorCategory = 'protocol' | 'auth' | 'call' | 'server' | 'sip' | 'client' | 'unknown';
export declare function errorCategory(code: number): ErrorCategory;
/** The code of a stable error name (`auth_expired` → 2001), or undefined. */
export declare function codeOfName(name: string): number | undefined;

/** An error from Switchboard or the SDK. Branch on `code` or `name`, never on `message`. */
export declare class SwitchboardError extends Error {
  constructor(code: number, name?: string | null, message?: string, extra?: { cause?: unknown; method?: string; requestId?: string });
  readonly code: number;
  /** Stable name, e.g. `auth_expired`, `sip_486_busy_here`, `connection_lost`. */
  readonly name: string;
  readonly category: ErrorCategory;
  /** SIP status (400-699) for codes 10400-10699, else null. */
  readonly sipStatus: number | null;
  /** The request method that failed, if any. */
  readonly method?: string;
  readonly requestId?: string;
  /** True for authentication failures (2000-2999 except resume_failed). */
  readonly isAuthError: boolean;
  static fromServer(obj: { code: number; name: string; message?: string }, extra?: object): SwitchboardError;
  toJSON(): { code: number; name: string; message: string; sipStatus: number | null };
}

export interface ReconnectOptions {
  /** First delay in ms (default 500). */
  initialDelay?: number;
  /** Longest delay in ms (default 30000). */
  maxDelay?: number;
  /** Growth per attempt (default 2). */
  factor?: number;
  /** Share of each delay taken off at random, 0-1 (default 0.5). */
  jitter?: number;
  /** Attempts before giving up (default Infinity). */
  maxAttempts?: number;
}

export interface PhoneOptions {
  /** WebSocket URL; default `ws(s)://<page host>/ws`. */
  url?: string;
  /** A JWT issued by your backend. */
  token?: string;
  /** Fetches a fresh JWT; called for every connection and reconnection. */
  getToken?: () => string | Promise<string>;
  /** ms before a request fails with `timeout` (default 10000). */
  requestTimeout?: number;
  /** ms to open the WebSocket (default 10000). */
  connectTimeout?: number;
  /** ms for `call.dial` to be answered (default 30000). */
  dialTimeout?: number;
  /** Backoff policy, or false never to reconnect. */
  reconnect?: ReconnectOptions | false;
  iceServers?: RTCIceServer[];
  rtcConfiguration?: RTCConfiguration;
  /** WebSocket constructor for non-browser hosts and tests. */
  WebSocket?: typeof WebSocket;
}

export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'disconnected';

export interface Identity {
  user: string;
  displayName: string;
  mayDial: string[];
}

export interface Limits {
  max_frame: number;
  max_msgs_per_sec: number;
  max_pending: number;
  max_calls: number;
}

export interface ConnectedInfo {
  session: string;
  identity: Identity;
  resumed: boolean;
  limits: Limits | null;
}

export interface ReconnectingInfo {
  attempt: number;
  delay: number;
  error: SwitchboardError;
  session: string | null;
}

export interface DisconnectedInfo {
  /** Why, or null after `disconnect()`. */
  error: SwitchboardError | null;
  code: number | null;
  reason: string;
  session: string | null;
}

export interface SessionLostInfo {
  session: string;
  error: SwitchboardError;
}

export interface RequestOptions {
  timeout?: number;
}

export declare class Emitter<Events extends { [K in keyof Events]: (...args: any[]) => void }> {
  on<K extends keyof Events>(event: K, listener: Events[K]): this;
  once<K extends keyof Events>(event: K, listener: Events[K]): this;
  off<K extends keyof Events>(event: K, listener: Events[K]): this;
  removeAllListeners(event?: keyof Events): this;
  listenerCount(event: keyof Events): number;
}

export interface ConnectionEvents {
  connecting: () => void;
  connected: (info: ConnectedInfo) => void;
  reconnecting: (info: ReconnectingInfo) => void;
  disconnected: (info: DisconnectedInfo) => void;
  statechange: (state: ConnectionState, previous: ConnectionState) => void;
  sessionlost: (info: SessionLostInfo) => void;
  error: (error: SwitchboardError) => void;
  event: (name: string, data: any) => void;
}

/** The connection core: one logical connection that outlives its sockets. */
export declare class Connection extends Emitter<ConnectionEvents> {
  constructor(options: PhoneOptions);
  readonly url: string;
  readonly state: ConnectionState;
  readonly session: string | null;
  readonly identity: Identity | null;
  readonly limits: Limits | null;
  readonly pingInterval: number;
  readonly idleTimeout: number;
  readonly resumeWindow: number;
  readonly reconnectAttempt: number;
  open(): Promise<ConnectedInfo>;
  close(): Promise<void>;
  request<T = any>(method: string, params?: object, options?: RequestOptions): Promise<T>;
  ping(): Promise<{ timeMs: number; rttMs: number }>;
  updateToken(token: string): void;
  destroy(): void;
}

export declare function backoffDelay(attempt: number, policy: Required<ReconnectOptions>, random?: () => number): number;

export interface PhoneEvents extends ConnectionEvents {
  incoming: (call: Call) => void;
}

export interface CallOptions {
  displayName?: string;
  video?: boolean | MediaTrackConstraints;
  audio?: boolean | MediaTrackConstraints;
  /** Send this stream instead of asking getUserMedia. */
  stream?: MediaStream;
  /**
   * In-call chat: `phone.call()` opens the data channel `chat` before its
   * offer when true; `accept()` opens it when the server's offer has a data
   * channel section, unless false.
   */
  chat?: boolean;
}

/** A device-like client: registers with Switchboard, places and receives calls. */
export declare class Phone extends Emitter<PhoneEvents> {
  constructor(options: PhoneOptions);
  readonly state: ConnectionState;
  readonly session: string | null;
  readonly identity: Identity | null;
  readonly limits: Limits | null;
  readonly reconnectAttempt: number;
  readonly timing: { pingInterval: number; idleTimeout: number; resumeWindow: number };
  readonly calls: Call[];
  rtcConfiguration: RTCConfiguration;
  dialTimeout: number;
  connect(): Promise<ConnectedInfo>;
  /** Same as connect(): once connected, calls arrive in `incoming`. */
  register(): Promise<ConnectedInfo>;
  disconnect(): Promise<void>;
  updateToken(token: string): void;
  ping(): Promise<{ timeMs: number; rttMs: number }>;
  /**
   * Whether this device takes queue calls (`presence.set`): queues skip a
   * device that is away; direct calls still ring it. Kept across a resume.
   */
  setPresence(state: PresenceState): Promise<void>;
  request<T = any>(method: string, params?: object, options?: RequestOptions): Promise<T>;
  call(destination: string, options?: CallOptions): Call;
  destroy(): void;
}

export type PresenceState = 'available' | 'away';
export type CallState = 'dialing' | 'ringing' | 'incoming' | 'answering' | 'active' | 'ended';
export type CallEndReason =
  | 'hangup'
  | 'remote_hangup'
  | 'failed'
  | 'cancelled'
  | 'timeout'
  | 'rejected'
  | 'transferred'
  /** A conference call: an administrator removed this member. */
  | 'kicked';

export interface CallEvents {
  ringing: (info: { status: number; earlyMedia: boolean }) => void;
  /** An outgoing call was answered. */
  answered: (call: Call) => void;
  /** An incoming call was accepted here. */
  accepted: (call: Call) => void;
  ended: (info: { reason: CallEndReason; error: SwitchboardError | null }) => void;
  error: (error: SwitchboardError) => void;
  statechange: (state: CallState, previous: CallState) => void;
  track: (info: { track: MediaStreamTrack; stream: MediaStream }) => void;
  mute: (muted: boolean) => void;
  hold: (info: { held: boolean; remote: boolean }) => void;
  digit: (info: { digit: string; duration: number }) => void;
  mediastate: (state: RTCPeerConnectionState) => void;
  /**
   * The session resumed after a dropped socket and still holds this call.
   * `iceRestart`: the client's address changed and the server restarted
   * ICE; its offer has been answered (media keeps flowing meanwhile).
   */
  resumed: (info: { state: string; iceRestart: boolean }) => void;
  /**
   * A call to a conference room: the members changed (one joined or
   * left; also once this call joined, and after a resumed session).
   */
  conference: (info: ConferenceInfo) => void;
  /**
   * A consultation (`consult()`) goes on: the target rings, answered, the
   * consultation ended (`reason`: `hangup`, `failed` or `consult_end`;
   * the far end is back here) or the held far end hung up (`party_left`:
   * the call goes on with the target).
   */
  consult: (info: ConsultInfo) => void;
  /** The chat channel opened: `sendMessage()` works from now on. */
  chatopen: () => void;
  /** A chat message from the other party (or a member of the room). */
  message: (info: { text: string }) => void;
  /** A chat message of ours did not reach a SIP party: its SIP status (408: no answer). */
  chatfailed: (info: { status: number }) => void;
}

export type ConsultState = 'ringing' | 'answered' | 'ended' | 'party_left';

export interface ConsultInfo {
  state: ConsultState;
  /** With `ended`: why (`hangup`, `failed`, `consult_end`); else null. */
  reason: 'hangup' | 'failed' | 'consult_end' | null;
}

/** A member of a conference room. */
export interface ConferenceMember {
  /** The member's call id (`c-...`): this call's own id for this client. */
  call: string;
  /** The caller as the server knows it: a user name, a number or a SIP URI. */
  from: string;
  /** Muted in the room (by an administrator or itself): the others do not hear it. */
  muted: boolean;
}

/** A conference room and its members, as the last `call.conference` gave it. */
export interface ConferenceInfo {
  name: string;
  members: ConferenceMember[];
}

export declare class Call extends Emitter<CallEvents> {
  readonly direction: 'outgoing' | 'incoming';
  /** The server's call id (`c-...`), null until call.dial is answered. */
  readonly id: string | null;
  readonly remote: string;
  readonly remoteDisplayName: string;
  readonly state: CallState;
  readonly progressStatus: number | null;
  readonly endReason: CallEndReason | null;
  readonly error: SwitchboardError | null;
  readonly held: boolean;
  readonly remoteHeld: boolean;
  /** The conference room this call is in, or null (not a conference call). */
  readonly conference: ConferenceInfo | null;
  readonly isMuted: boolean;
  readonly remoteStream: MediaStream | null;
  readonly localStream: MediaStream | null;
  readonly peerConnection: RTCPeerConnection | null;
  /** True while the chat channel is open. */
  readonly chatOpen: boolean;
  accept(options?: CallOptions): Promise<void>;
  reject(): Promise<void>;
  hangup(reason?: string): Promise<void>;
  /** Mutes the local microphone (any call; the server is not told). */
  mute(muted?: boolean): void;
  /**
   * A conference call only: mutes (default) or unmutes this member in the
   * room on the server, so the others stop hearing it and see it `muted`.
   * Rejects with `not_available` on a call that is not a conference call.
   */
  muteInConference(mute?: boolean): Promise<void>;
  sendDigits(digits: string, options?: { duration?: number }): Promise<void>;
  hold(hold?: boolean): Promise<void>;
  unhold(): Promise<void>;
  /**
   * Blind transfer of the far end to `to`: resolves when the target
   * answered (the call then ends with reason `transferred`), rejects with
   * its failure (the call goes on).
   */
  transfer(to: string): Promise<void>;
  /** The consultation under way, or null. */
  readonly consultState: 'ringing' | 'answered' | null;
  /**
   * Consultative transfer: holds the far end and rings `to` in this call;
   * resolves when `to` answered (this client then talks with it), rejects
   * with its failure (the far end resumed).
   */
  consult(to: string): Promise<void>;
  /** Completes the consultation: the far end goes to the target, the call ends `transferred`. */
  completeTransfer(): Promise<void>;
  /** Ends the consultation and resumes the far end here. */
  endConsult(): Promise<void>;
  /**
   * Sends a chat message (1-1024 bytes in UTF-8) on the call's data
   * channel. Rejects with `invalid_argument` (empty, too long) or
   * `invalid_state` (the channel is not open).
   */
  sendMessage(text: string): Promise<void>;
}
