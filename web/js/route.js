// @ts-check
/**
 * Ids from the page's path (docs/protocol.md, "Pages"):
 *   /s/{session id}            attendee page
 *   /s/{session id}/{page}     moderator, chair, av, captioner, interpreter, display, report, archive
 *   /e/{event id}/admin        administrator
 *   /e/{event id}/report       the event's record (administrator)
 *
 * Protocol layer: no DOM access.
 */

/** Pages that live under /s/{session id}/. */
export const SESSION_PAGES = Object.freeze(['moderator', 'chair', 'av', 'captioner', 'interpreter', 'display',
  'report', 'archive']);

/**
 * Ids are integers in the protocol (the Socket.IO `auth.session_id` is a number), so digits become numbers.
 * @param {string} segment
 * @returns {number | string}
 */
function idFrom(segment) {
  const text = decodeURIComponent(segment);
  return /^\d+$/.test(text) ? Number(text) : text;
}

/**
 * @typedef {object} Route
 * @property {'home' | 'attend' | 'session-page' | 'admin' | 'event-report' | 'unknown'} kind
 * @property {number | string | null} sessionId
 * @property {number | string | null} eventId
 * @property {string | null} page   the session page name (moderator, chair, ...) or null
 */

/**
 * @param {string} [pathname]
 * @returns {Route}
 */
export function parsePath(pathname = globalThis.location?.pathname ?? '/') {
  const path = pathname.replace(/\/+$/, '') || '/';
  /** @type {RegExpMatchArray | null} */
  let match;
  if (path === '/') return { kind: 'home', sessionId: null, eventId: null, page: null };
  if ((match = path.match(/^\/s\/([^/]+)$/))) {
    return { kind: 'attend', sessionId: idFrom(match[1]), eventId: null, page: null };
  }
  if ((match = path.match(/^\/s\/([^/]+)\/([^/]+)$/)) && SESSION_PAGES.includes(match[2])) {
    return { kind: 'session-page', sessionId: idFrom(match[1]), eventId: null, page: match[2] };
  }
  if ((match = path.match(/^\/e\/([^/]+)\/admin$/))) {
    return { kind: 'admin', sessionId: null, eventId: idFrom(match[1]), page: 'admin' };
  }
  if ((match = path.match(/^\/e\/([^/]+)\/report$/))) {
    return { kind: 'event-report', sessionId: null, eventId: idFrom(match[1]), page: 'report' };
  }
  return { kind: 'unknown', sessionId: null, eventId: null, page: null };
}

/**
 * @param {string} [pathname]
 * @returns {number | string | null}
 */
export function sessionIdFromPath(pathname) {
  return parsePath(pathname).sessionId;
}

/**
 * @param {string} [pathname]
 * @returns {number | string | null}
 */
export function eventIdFromPath(pathname) {
  return parsePath(pathname).eventId;
}

/**
 * Paths of the pages, for links.
 * @param {number | string} sessionId
 * @param {string} [page]
 */
export function sessionPath(sessionId, page) {
  const base = `/s/${encodeURIComponent(String(sessionId))}`;
  return page ? `${base}/${encodeURIComponent(page)}` : base;
}
