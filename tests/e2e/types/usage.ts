// Compiled (never run) by types.test.mjs: the declarations of web/sdk/index.d.ts
// must type-check typical use under --strict.
import { Phone, Call, SwitchboardError, ErrorCode } from '../../../web/sdk/index.js';
const phone = new Phone({ url: 'wss://x/ws', getToken: async () => 'tok', reconnect: { initialDelay: 100 } });
phone.on('incoming', (call: Call) => { call.on('ended', ({ reason, error }) => console.log(reason, error?.sipStatus)); void call.accept({ audio: true }); });
phone.on('reconnecting', ({ attempt, delay }) => console.log(attempt + delay));
async function main() {
  try {
    const info = await phone.connect();
    console.log(info.identity.user, info.session);
    await phone.setPresence('away');
    // @ts-expect-error: presence is 'available' or 'away'
    void phone.setPresence('busy');
    const c = phone.call('bob', { video: false });
    c.on('ringing', ({ status }) => status + 1);
    c.on('resumed', ({ state, iceRestart }) => console.log(state.length, iceRestart === true));
    c.on('conference', ({ name, members }) => console.log(name.length, members.map((m) => m.call + m.from).length));
    console.log(c.conference?.members.length ?? 0);
    await c.sendDigits('123');
    c.mute(true);
    if (c.conference?.members.some((m) => m.muted)) await c.muteInConference(false);
    await c.muteInConference();
    await c.transfer('5551234');
    c.on('consult', ({ state, reason }) => { if (state === 'ended') console.log(reason ?? 'none', c.consultState); });
    await c.consult('5551234');
    if (c.consultState === 'answered') await c.completeTransfer();
    else await c.endConsult();
    c.on('ended', ({ reason }) => { if (reason === 'transferred' || reason === 'kicked') console.log('moved on'); });
    const chat = phone.call('bob', { chat: true });
    chat.on('message', ({ text }) => console.log(text.length));
    chat.on('chatfailed', ({ status }) => console.log(status + 1));
    chat.on('chatopen', () => { if (chat.chatOpen) void chat.sendMessage('hi'); });
    // @ts-expect-error: chat text is a string
    void chat.sendMessage(42);
  } catch (e) {
    if (e instanceof SwitchboardError && e.code === ErrorCode.AUTH_EXPIRED) console.log(e.name);
  }
}
void main();
phone.on('statechange', (state, previous) => console.log(state.length + previous.length));
phone.on('sessionlost', ({ session, error }) => console.log(session, error.code));
// @ts-expect-error: an unknown event name is refused
phone.on('no-such-event', () => {});
// @ts-expect-error: options need a token or getToken of the right type
new Phone({ url: 'ws://x/ws', token: 42 });
