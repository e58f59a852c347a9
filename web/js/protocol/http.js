// @ts-check
/**
 * The HTTP routes of docs/protocol.md that any page may call: events, sessions, registration, the session's
 * state, presence and audit. The organiser's routes (links, the agenda, records) are in organiser.js.
 */

import { ProtocolError } from './errors.js';

/** @typedef {import('../protocol-types.js').Event} HemicycleEvent  an event of the agenda */
/** @typedef {import('../protocol-types.js').Session} Session */
/** @typedef {import('../protocol-types.js').Me} Me */
/** @typedef {import('../protocol-types.js').Participant} Participant */
/** @typedef {import('../protocol-types.js').Person} Person */
/** @typedef {import('../protocol-types.js').Summary} PresenceSummary */
/** @typedef {import('../protocol-types.js').Actor} Actor */
/** @typedef {import('../protocol-types.js').SetState} SetStateRequest */
/** @typedef {'scheduled' | 'live' | 'ended'} SessionState */
/**
 * @typedef {'government' | 'private_sector' | 'civil_society' | 'academic_technical'
 *   | 'international_organization'} StakeholderGroup
 */

/**
 * @typedef {object} AuditEntry
 * @property {number} id
 * @property {string} at
 * @property {Actor} actor
 * @property {string} action          e.g. "session.set_state"
 * @property {unknown} target
 * @property {unknown} details
 */

/**
 * @typedef {object} Registration   body of POST /api/events/{id}/participants
 * @property {string} display_name
 * @property {string} affiliation
 * @property {StakeholderGroup} stakeholder_group
 * @property {string} country
 * @property {boolean} consent_demographics
 * @property {'woman' | 'man' | 'another'} [gender]             only with consent
 * @property {'under_25' | '25_34' | '35_49' | '50_64' | '65_plus'} [age_band]   only with consent
 */

// ---------------------------------------------------------------------------------------------------------
// Session states

/** Allowed moves of `POST /api/sessions/{id}/state` and `session:set_state`. */
export const SESSION_TRANSITIONS = Object.freeze({
  scheduled: Object.freeze(['live', 'ended']),
  live: Object.freeze(['ended']),
  ended: Object.freeze(['live']),
});

/**
 * @param {string | null | undefined} from
 * @param {string} to
 */
export function canTransition(from, to) {
  if (!from) return false;
  /** @type {readonly string[] | undefined} */
  const allowed = /** @type {Record<string, readonly string[]>} */ (SESSION_TRANSITIONS)[from];
  return !!allowed && allowed.includes(to);
}

// ---------------------------------------------------------------------------------------------------------
// HTTP

/**
 * Call a JSON route. Resolves with the parsed body; rejects with a ProtocolError carrying the server's code.
 * @param {string} path   e.g. "/api/events"
 * @param {{method?: string, body?: unknown, token?: string | null, baseUrl?: string, signal?: AbortSignal}} [options]
 * @returns {Promise<Record<string, any>>}
 */
export async function httpJSON(path, { method = 'GET', body, token, baseUrl = '', signal } = {}) {
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  /** @type {Response} */
  let response;
  try {
    response = await fetch(baseUrl + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: 'no-store',
      credentials: 'omit', // tokens travel in the Authorization header, never in cookies
    });
  } catch (err) {
    if (err instanceof Error && err.name === 'AbortError') throw err;
    throw new ProtocolError('network', 'The server could not be reached. Check your connection and try again.');
  }
  /** @type {any} */
  let payload = null;
  try {
    const text = await response.text();
    payload = text ? JSON.parse(text) : null;
  } catch {
    payload = null;
  }
  if (!response.ok) {
    const error = payload && typeof payload === 'object' ? payload.error : null;
    if (error && typeof error.code === 'string') {
      throw new ProtocolError(error.code, String(error.message || error.code), {
        status: response.status,
        details: error.details,
      });
    }
    const code = response.status >= 500 ? 'internal' : `http_${response.status}`;
    throw new ProtocolError(code, `The server answered ${response.status} ${response.statusText}`.trim(), {
      status: response.status,
    });
  }
  if (!payload || typeof payload !== 'object') {
    throw new ProtocolError('bad_response', 'The server sent an answer this page does not understand.', {
      status: response.status,
    });
  }
  return payload;
}

/** @param {number | string} id */
export const seg = (id) => encodeURIComponent(String(id));

/** @returns {Promise<{events: HemicycleEvent[]}>} */
export function listEvents() {
  return /** @type {any} */ (httpJSON('/api/events'));
}

/**
 * Public sessions of an event.
 * @param {number | string} eventId
 * @returns {Promise<{event: HemicycleEvent, sessions: Session[]}>}
 */
export function getEvent(eventId) {
  return /** @type {any} */ (httpJSON(`/api/events/${seg(eventId)}`));
}

/**
 * A session and its event. A non-public session needs a token that may enter it (its staff, the event's
 * administrator, an attendee admitted to it); to anyone else it is `unknown_session`.
 * @param {number | string} sessionId
 * @param {string | null} [token]
 * @returns {Promise<{session: Session, event: HemicycleEvent}>}
 */
export function getSession(sessionId, token) {
  return /** @type {any} */ (httpJSON(`/api/sessions/${seg(sessionId)}`, { token: token ?? undefined }));
}

/**
 * Register as an attendee of an event.
 * @param {number | string} eventId
 * @param {Registration} registration
 * @returns {Promise<{participant: Participant, token: string, expires_at: string}>}
 */
export function register(eventId, registration) {
  return /** @type {any} */ (
    httpJSON(`/api/events/${seg(eventId)}/participants`, { method: 'POST', body: registration })
  );
}

/**
 * @param {string} token
 * @returns {Promise<{me: Me, expires_at: string}>}
 */
export function getMe(token) {
  return /** @type {any} */ (httpJSON('/api/me', { token }));
}

/**
 * @param {number | string} sessionId
 * @param {SessionState} state
 * @param {string} token
 * @returns {Promise<{session: Session}>}
 */
export function postSessionState(sessionId, state, token) {
  return /** @type {any} */ (
    httpJSON(`/api/sessions/${seg(sessionId)}/state`, { method: 'POST', body: { state }, token })
  );
}

/**
 * @param {number | string} sessionId
 * @param {string} token
 * @returns {Promise<{summary: PresenceSummary, people: Person[]}>}
 */
export function getPresence(sessionId, token) {
  return /** @type {any} */ (httpJSON(`/api/sessions/${seg(sessionId)}/presence`, { token }));
}

/**
 * The audit log of a session, newest first.
 * @param {number | string} sessionId
 * @param {string} token
 * @returns {Promise<{entries: AuditEntry[]}>}
 */
export function getAudit(sessionId, token) {
  return /** @type {any} */ (httpJSON(`/api/sessions/${seg(sessionId)}/audit`, { token }));
}

/**
 * A file from the API (an export or a report), fetched with the token in the Authorization header, never
 * in the URL; the caller shows it or saves the Blob (e.g. through a Blob URL).
 * @param {string} path
 * @param {string} accept
 * @param {string} token
 * @param {string} fallbackName   the file name when the server sends none
 * @param {string} [baseUrl]
 * @returns {Promise<{blob: Blob, filename: string}>}
 */
export async function fetchFile(path, accept, token, fallbackName, baseUrl = '') {
  /** @type {Response} */
  let response;
  try {
    response = await fetch(`${baseUrl}${path}`, {
      headers: { Authorization: `Bearer ${token}`, Accept: accept },
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch {
    throw new ProtocolError('network', 'The server could not be reached. Check your connection and try again.');
  }
  if (!response.ok) {
    /** @type {any} */
    let payload = null;
    try {
      payload = await response.json();
    } catch {
      payload = null;
    }
    const error = payload && typeof payload === 'object' ? payload.error : null;
    if (error && typeof error.code === 'string') {
      throw new ProtocolError(error.code, String(error.message || error.code), {
        status: response.status, details: error.details,
      });
    }
    throw new ProtocolError(response.status >= 500 ? 'internal' : `http_${response.status}`,
      `The server answered ${response.status} ${response.statusText}`.trim(), { status: response.status });
  }
  const disposition = response.headers.get('Content-Disposition') ?? '';
  const named = /filename="?([^";]+)"?/i.exec(disposition);
  return { blob: await response.blob(), filename: named ? named[1] : fallbackName };
}

/** The random id this browser sends when registering (kept in localStorage), to recognise a banned person. */
export const BROWSER_ID_KEY = 'hemicycle.browser';

/**
 * This browser's id, created once. Null when storage is refused (private browsing): registration goes on.
 * @param {Storage | null} [storage]
 * @returns {string | null}
 */
export function browserId(storage = globalThis.localStorage ?? null) {
  try {
    if (!storage) return null;
    let id = storage.getItem(BROWSER_ID_KEY);
    if (!id || !/^[A-Za-z0-9_-]{1,64}$/.test(id)) {
      const bytes = new Uint8Array(16);
      globalThis.crypto.getRandomValues(bytes);
      id = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
      storage.setItem(BROWSER_ID_KEY, id);
    }
    return id;
  } catch {
    return null;
  }
}
