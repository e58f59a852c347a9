// @ts-check
/**
 * Where a page keeps its token (docs/protocol.md, "Identities and tokens").
 *
 * Tokens arrive in the URL fragment (`#token=...`), which browsers never send to servers or in `Referer`
 * headers. A page takes the token out of the fragment, keeps it in localStorage and removes it from the
 * address bar, so it is neither bookmarked nor shown on a projected screen.
 *
 * Protocol layer: no DOM access (location, history and localStorage only; each can be passed in for tests).
 */

const PREFIX = 'hemicycle.token.';

/**
 * Attendee tokens cover a whole event.
 * @param {number | string} eventId
 */
export function attendeeTokenKey(eventId) {
  return `${PREFIX}${eventId}`;
}

/**
 * Staff tokens (moderator, chair, av, captioner, interpreter, display) cover one session.
 * @param {number | string} sessionId
 * @param {string} role
 */
export function staffTokenKey(sessionId, role) {
  return `${PREFIX}${sessionId}.${role}`;
}

/**
 * Administrator tokens cover a whole event. docs/protocol.md names no key for them; this one follows the
 * staff pattern with the event id (no session role is called "admin", so it cannot collide).
 * @param {number | string} eventId
 */
export function adminTokenKey(eventId) {
  return `${PREFIX}${eventId}.admin`;
}

/** Used when localStorage is refused (private browsing, storage disabled): the token lasts for the page. */
const memory = new Map();

/** @returns {Storage | null} */
function defaultStorage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // some browsers throw on access when storage is disabled
  }
}

/**
 * @param {string} key
 * @param {string} token
 * @param {Storage | null} [storage]
 */
export function saveToken(key, token, storage = defaultStorage()) {
  memory.set(key, token);
  try {
    storage?.setItem(key, token);
  } catch {
    // Quota or privacy settings: the in-memory copy still serves this page.
  }
}

/**
 * @param {string} key
 * @param {Storage | null} [storage]
 * @returns {string | null}
 */
export function loadToken(key, storage = defaultStorage()) {
  try {
    const stored = storage?.getItem(key);
    if (stored) return stored;
  } catch {
    // fall through to the in-memory copy
  }
  return memory.get(key) ?? null;
}

/**
 * @param {string} key
 * @param {Storage | null} [storage]
 */
export function forgetToken(key, storage = defaultStorage()) {
  memory.delete(key);
  try {
    storage?.removeItem(key);
  } catch {
    // nothing stored
  }
}

/**
 * Read `token` from the URL fragment and remove it from the address bar (other fragment parameters stay).
 * @param {{hash: string, pathname: string, search: string}} [loc]
 * @param {{state: unknown, replaceState: (data: unknown, unused: string, url?: string) => void}} [hist]
 * @returns {string | null} the token, or null when the fragment has none
 */
export function takeTokenFromFragment(loc = globalThis.location, hist = globalThis.history) {
  if (!loc || !loc.hash || loc.hash.length < 2) return null;
  const params = new URLSearchParams(loc.hash.slice(1));
  const token = params.get('token');
  if (token === null) return null;
  params.delete('token');
  const rest = params.toString();
  try {
    hist?.replaceState(hist.state, '', `${loc.pathname}${loc.search}${rest ? `#${rest}` : ''}`);
  } catch {
    // replaceState can be refused in sandboxed frames; the token still works
  }
  return token.trim() || null;
}

/**
 * The token for a key: a fresh one from the fragment (saved, and removed from the address bar) wins over
 * the stored one.
 * @param {string} key
 * @returns {string | null}
 */
export function tokenFor(key) {
  const fresh = takeTokenFromFragment();
  if (fresh) {
    saveToken(key, fresh);
    return fresh;
  }
  return loadToken(key);
}
