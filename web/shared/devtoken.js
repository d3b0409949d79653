// Development only, for the demo and agent pages: signs an HS256 token in
// the page with the secret typed in (the default config's [auth]
// hs256_secret). A real deployment never puts its secret in a page: its own
// backend issues the token (docs/protocol.md, section 3).

function b64url(bytes) {
  let s = '';
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** A one-hour HS256 token for user, allowed to dial anything. */
export async function devToken(user, secret, audience) {
  const enc = new TextEncoder();
  const now = Math.floor(Date.now() / 1000);
  const header = b64url(enc.encode(JSON.stringify({ alg: 'HS256', typ: 'JWT' })));
  const claims = { sub: user, name: user, aud: audience, iat: now, exp: now + 3600, may_dial: ['*'] };
  const body = b64url(enc.encode(JSON.stringify(claims)));
  const key = await crypto.subtle.importKey('raw', enc.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const sig = await crypto.subtle.sign('HMAC', key, enc.encode(`${header}.${body}`));
  return `${header}.${body}.${b64url(sig)}`;
}

/** The page's token: the one pasted in #token, else one signed from
 * #user, #secret and #audience. */
export async function pageToken() {
  const $ = (id) => document.getElementById(id);
  const pasted = $('token').value.trim();
  if (pasted) return pasted;
  return devToken($('user').value.trim(), $('secret').value, $('audience').value.trim());
}
