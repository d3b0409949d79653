// Switchboard browser SDK: connect a page to a Switchboard gateway, place and
// receive calls. See docs/sdk.md for the guide and the API reference.

export { Phone } from './phone.js';
export { Call } from './call.js';
export { Connection, SUBPROTOCOL, PROTOCOL_VERSION, backoffDelay } from './connection.js';
export { SwitchboardError, ErrorCode, errorCategory, codeOfName } from './errors.js';
export { Emitter } from './emitter.js';

/** The SDK version. */
export const VERSION = '0.1.0';

/**
 * @typedef {object} ReconnectOptions
 * @property {number} [initialDelay=500] first delay, ms
 * @property {number} [maxDelay=30000] longest delay, ms
 * @property {number} [factor=2] growth per attempt
 * @property {number} [jitter=0.5] share of the delay taken off at random (0-1)
 * @property {number} [maxAttempts=Infinity] attempts before giving up
 */

/**
 * @typedef {object} PhoneOptions
 * @property {string} [url] WebSocket URL; default `ws(s)://<page host>/ws`
 * @property {string} [token] a JWT from your backend
 * @property {() => Promise<string>|string} [getToken] fetches a fresh JWT; called for every (re)connection
 * @property {number} [requestTimeout=10000] ms before a request fails with `timeout`
 * @property {number} [connectTimeout=10000] ms to open the WebSocket
 * @property {number} [dialTimeout=30000] ms for `call.dial` to be answered
 * @property {ReconnectOptions|false} [reconnect] backoff policy, or false to never reconnect
 * @property {RTCIceServer[]} [iceServers] ICE servers for calls
 * @property {RTCConfiguration} [rtcConfiguration] full RTCPeerConnection configuration
 * @property {typeof WebSocket} [WebSocket] WebSocket constructor (tests, non-browser hosts)
 */
