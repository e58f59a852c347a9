// @ts-check
/**
 * The organiser's HTTP routes (server/organiser.py and the records of server/reports.py): role links and
 * grants, the agenda's sessions, agenda files and the session and event records.
 */

import { ProtocolError } from './errors.js';
import { fetchFile, httpJSON, seg } from './http.js';

/** @typedef {import('../protocol-types.js').Session} Session */
/** @typedef {'figures' | 'interventions' | 'attendance' | 'audit' | 'transcript'} ReportPart */

/**
 * Sign fresh role links for a session (admin only); `grants` names each link's grant, to withdraw one.
 * @param {number | string} sessionId
 * @param {string} token
 * @returns {Promise<{links: Record<string, string>, grants: Record<string, number>, expires_at: string}>}
 */
export function issueLinks(sessionId, token) {
  return /** @type {any} */ (
    httpJSON(`/api/sessions/${seg(sessionId)}/links`, { method: 'POST', body: {}, token })
  );
}

/**
 * A new interpreter with a link for some booths of a session (admin only): each interpreter of a booth gets
 * their own, so that partners are told apart (docs/protocol.md, "Interpretation booths").
 * @param {number | string} sessionId
 * @param {{languages: string[], name: string}} booth
 * @param {string} token
 * @returns {Promise<{link: string, grant_id: number, participant_id: number, booths: string[]}>}
 */
export function issueBoothLink(sessionId, { languages, name }, token) {
  return /** @type {any} */ (
    httpJSON(`/api/sessions/${seg(sessionId)}/booths/links`, { method: 'POST', body: { languages, name }, token })
  );
}

/**
 * @typedef {{id: number, event_id: number, session_id: number | null, participant_id: number, role: string,
 *   revoked_at: string | null}} Grant
 */

/**
 * Withdraw one link (admin only): its token is refused from now on and its connections are closed.
 * @param {number | string} grantId
 * @param {string} token
 * @returns {Promise<{grant: Grant}>}
 */
export function revokeGrant(grantId, token) {
  return /** @type {any} */ (httpJSON(`/api/grants/${seg(grantId)}/revoke`, { method: 'POST', token }));
}

/**
 * Withdraw one link and get a new one for the same person and role (admin only).
 * @param {number | string} grantId
 * @param {string} token
 * @returns {Promise<{grant: Grant, replaces: number, link: string, expires_at: string}>}
 */
export function reissueGrant(grantId, token) {
  return /** @type {any} */ (httpJSON(`/api/grants/${seg(grantId)}/reissue`, { method: 'POST', token }));
}

/**
 * Add a session to an event (admin only); times without an offset are in the event's time zone.
 * @param {number | string} eventId
 * @param {Record<string, unknown>} fields
 * @param {string} token
 * @returns {Promise<{session: Session & {waiting_room: boolean | null}}>}
 */
export function createSession(eventId, fields, token) {
  return /** @type {any} */ (httpJSON(`/api/events/${seg(eventId)}/sessions`, { method: 'POST', body: fields, token }));
}

/**
 * Change the fields given of a session (admin only).
 * @param {number | string} sessionId
 * @param {Record<string, unknown>} fields
 * @param {string} token
 * @returns {Promise<{session: Session & {waiting_room: boolean | null}}>}
 */
export function updateSession(sessionId, fields, token) {
  return /** @type {any} */ (httpJSON(`/api/sessions/${seg(sessionId)}`, { method: 'PATCH', body: fields, token }));
}

/**
 * Delete a session that is not live, and all it recorded (admin only).
 * @param {number | string} sessionId
 * @param {string} token
 * @returns {Promise<{deleted: {id: number, title: string, at: string}}>}
 */
export function deleteSession(sessionId, token) {
  return /** @type {any} */ (httpJSON(`/api/sessions/${seg(sessionId)}`, { method: 'DELETE', token }));
}

/**
 * Import an agenda file's text, as `hemicycle import-agenda` reads it (admin only).
 * @param {number | string} eventId
 * @param {string} text
 * @param {string} name   named in error messages
 * @param {string} type   application/yaml or application/json
 * @param {string} token
 * @returns {Promise<{created: number, updated: number, sessions: Session[]}>}
 */
export async function uploadAgenda(eventId, text, name, type, token) {
  const safeName = /^[\w.-]{1,64}$/.test(name) ? name : 'agenda';
  /** @type {Response} */
  let response;
  try {
    response = await fetch(`/api/events/${seg(eventId)}/agenda?name=${encodeURIComponent(safeName)}`, {
      method: 'POST',
      headers: { Accept: 'application/json', 'Content-Type': type, Authorization: `Bearer ${token}` },
      body: text,
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch {
    throw new ProtocolError('network', 'The server could not be reached. Check your connection and try again.');
  }
  const payload = await response.json().catch(() => null);
  if (!response.ok) {
    const error = payload?.error;
    throw new ProtocolError(error?.code ?? `http_${response.status}`, String(error?.message ?? response.statusText), {
      status: response.status, details: error?.details,
    });
  }
  return payload;
}

/**
 * A session's record (moderator, admin) or a whole event's (the event's admin), as HTML, JSON or CSV.
 * @param {{sessionId?: number | string, eventId?: number | string}} scope   one of the two
 * @param {'html' | 'json' | 'csv'} format
 * @param {string} token
 * @param {{part?: ReportPart, embed?: boolean, lang?: string, baseUrl?: string}} [options]   `part`: which
 *   table, for CSV; `embed`: HTML that links the site's stylesheet instead of carrying its own (to show in a
 *   page); `lang`: the HTML's language (en, fr, es, ar, zh, ru)
 * @returns {Promise<{blob: Blob, filename: string}>}
 */
export function fetchReport(scope, format, token, { part = 'figures', embed = false, lang = '', baseUrl = '' } = {}) {
  const base = scope.sessionId !== undefined
    ? `/api/sessions/${seg(scope.sessionId)}/report`
    : `/api/events/${seg(/** @type {number | string} */ (scope.eventId))}/report`;
  const query = `?format=${encodeURIComponent(format)}&part=${encodeURIComponent(part)}${embed ? '&embed=1' : ''}`
    + (lang ? `&lang=${encodeURIComponent(lang)}` : '');
  const accept = { html: 'text/html', json: 'application/json', csv: 'text/csv' }[format];
  return fetchFile(`${base}${query}`, accept, token, `record.${format}`, baseUrl);
}
