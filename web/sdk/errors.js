// Typed errors of the Switchboard SDK: the server's error objects (protocol
// section 5 of docs/protocol.md) and the few conditions only the client can see.

/**
 * Error codes. Codes below 9000 and from 10400 are the server's (see
 * docs/protocol.md section 5); the 9000-9099 range is reserved for errors the
 * SDK raises itself and never comes from the server.
 * @readonly
 * @enum {number}
 */
export const ErrorCode = Object.freeze({
  PARSE_ERROR: 1000,
  INVALID_MESSAGE: 1001,
  UNKNOWN_METHOD: 1002,
  INVALID_PARAMS: 1003,
  UNSAFE_TEXT: 1004,
  FRAME_TOO_LARGE: 1005,
  RATE_LIMITED: 1006,
  TOO_MANY_PENDING: 1007,
  NOT_AUTHENTICATED: 1008,
  ALREADY_AUTHENTICATED: 1009,
  UNSUPPORTED_VERSION: 1010,
  BINARY_NOT_SUPPORTED: 1011,
  AUTH_INVALID_TOKEN: 2000,
  AUTH_EXPIRED: 2001,
  AUTH_NOT_YET_VALID: 2002,
  AUTH_BAD_AUDIENCE: 2003,
  AUTH_BAD_ISSUER: 2004,
  AUTH_ALGORITHM_REFUSED: 2005,
  AUTH_BAD_SIGNATURE: 2006,
  RESUME_FAILED: 2010,
  NOT_AVAILABLE: 3000,
  CALL_NOT_FOUND: 3001,
  NOT_ALLOWED: 3002,
  TOO_MANY_CALLS: 3003,
  OVERLOADED: 3004,
  INTERNAL_ERROR: 5000,
  DRAINING: 5001,
  // Raised by the SDK itself.
  TIMEOUT: 9000,
  CONNECTION_FAILED: 9001,
  CONNECTION_LOST: 9002,
  NOT_CONNECTED: 9003,
  TOKEN_UNAVAILABLE: 9004,
  INVALID_ARGUMENT: 9005,
  MEDIA_ERROR: 9006,
  SESSION_TAKEN_OVER: 9007,
  PROTOCOL_VIOLATION: 9008,
  INVALID_STATE: 9009,
  CLOSED_BY_SERVER: 9010,
});

const CLIENT_NAMES = {
  9000: 'timeout',
  9001: 'connection_failed',
  9002: 'connection_lost',
  9003: 'not_connected',
  9004: 'token_unavailable',
  9005: 'invalid_argument',
  9006: 'media_error',
  9007: 'session_taken_over',
  9008: 'protocol_violation',
  9009: 'invalid_state',
  9010: 'closed_by_server',
};

const CODE_OF_NAME = new Map(Object.entries(ErrorCode).map(([k, v]) => [k.toLowerCase(), v]));

/**
 * The code of a stable error name (`auth_expired` → 2001, `sip_486_busy_here`
 * → 10486), or undefined for a name the SDK does not know.
 * @param {string} name
 * @returns {number|undefined}
 */
export function codeOfName(name) {
  const sip = /^sip_([4-6][0-9][0-9])(_|$)/.exec(name);
  if (sip) return 10000 + Number(sip[1]);
  return CODE_OF_NAME.get(name);
}

/**
 * The category of a code, by the ranges of docs/protocol.md section 5.
 * @param {number} code
 * @returns {'protocol'|'auth'|'call'|'server'|'sip'|'client'|'unknown'}
 */
export function errorCategory(code) {
  if (code >= 1000 && code <= 1999) return 'protocol';
  if (code >= 2000 && code <= 2999) return 'auth';
  if (code >= 3000 && code <= 3999) return 'call';
  if (code >= 5000 && code <= 5999) return 'server';
  if (code >= 9000 && code <= 9099) return 'client';
  if (code >= 10400 && code <= 10699) return 'sip';
  return 'unknown';
}

/**
 * An error from Switchboard or from the SDK. Branch on `code` or `name`,
 * never on `message`, which is English text for people and may change.
 */
export class SwitchboardError extends Error {
  /**
   * @param {number} code numeric code (see ErrorCode)
   * @param {string} [name] stable name such as `auth_expired`
   * @param {string} [message] text for people
   * @param {object} [extra] `{ cause, method, requestId }`
   */
  constructor(code, name, message, extra = {}) {
    const errName = name || CLIENT_NAMES[code] || `error_${code}`;
    super(message || errName, extra.cause !== undefined ? { cause: extra.cause } : undefined);
    /** Numeric code. @type {number} */
    this.code = code;
    /** Stable name, e.g. `auth_expired` or `sip_486_busy_here`. @type {string} */
    this.name = errName;
    /** The range the code falls in. */
    this.category = errorCategory(code);
    /** SIP status (400-699) when the error carries one, else null. @type {number|null} */
    this.sipStatus = this.category === 'sip' ? code - 10000 : null;
    /** The request method that failed, when there was one. @type {string|undefined} */
    this.method = extra.method;
    /** The id of the request that failed, when there was one. @type {string|undefined} */
    this.requestId = extra.requestId;
  }

  /** True for the authentication errors (2000-2999, resume_failed included). */
  get isAuthError() {
    return this.category === 'auth' && this.code !== ErrorCode.RESUME_FAILED;
  }

  /**
   * Builds an error from a server error object `{code, name, message}`.
   * @param {{code:number,name:string,message?:string}} obj
   * @param {object} [extra]
   */
  static fromServer(obj, extra) {
    const code = obj && Number.isInteger(obj.code) ? obj.code : ErrorCode.INTERNAL_ERROR;
    const name = obj && typeof obj.name === 'string' ? obj.name : undefined;
    const message = obj && typeof obj.message === 'string' ? obj.message : undefined;
    return new SwitchboardError(code, name, message, extra);
  }

  toJSON() {
    return { code: this.code, name: this.name, message: this.message, sipStatus: this.sipStatus };
  }
}
