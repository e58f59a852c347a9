// @ts-check
/**
 * The Hemicycle protocol client: HTTP calls and the Socket.IO connection of docs/protocol.md.
 *
 * This module owns the connection and the state it brings (who I am, the session, its event, presence, the
 * roster). It never touches the page: page modules read the state through getters and re-render when it
 * dispatches an event. State is always updated *before* the event is dispatched, so a listener that reads
 * `client.session` sees the new value.
 *
 * Events dispatched by HemicycleClient (`client.on(name, detail => ...)`):
 *   connection        {state, previous, refusal}          connection state changed
 *   welcome           Welcome                             (re)connected; every field of the state is fresh
 *   session:state     {session, by, previous}             the session changed state (from anyone, or our ack)
 *   presence          PresenceSummary                     counts changed
 *   presence:people   {session_id, people}                roster changed (staff only)
 *   floor             {floor, previous}                   who speaks, the countdown, the next two (everyone)
 *   queue:mine        {mine, previous}                    my own request: place in line, or my turn
 *                                                         (also when a newer `queue:line` moves my place)
 *   queue             {queue, previous}                   the whole queue, record, balance (staff only)
 *   questions:public  {questions, previous}               approved questions and the one read aloud (everyone),
 *                                                         from the welcome, a re-read, or a `questions:changed`
 *   questions:mine    {mine, previous}                    my own questions and my votes
 *   questions         {moderation, previous}              every question, with askers and history (staff only),
 *                                                         from the welcome, a re-read, or a `questions:staff_changed`
 *   caption           {caption}                           a caption line, stored, new to this client (everyone)
 *   media:stopped     {resource_id, source, reason}       the relay ended one of my media connections
 *   media:health      MediaHealth                         the relay's health figures (AV desk, floor staff)
 *   error             ServerError & {handledByRequest}    the server reported an error on the socket
 *
 * Queue updates carry the session's queue `version`; several server processes may deliver them in either
 * order, so the client keeps, for each of `floor`, `mine` and `queue`, only an update newer than the one it
 * holds (a `welcome` always resets them: it is a fresh read). `floorReceivedAt`, `mineReceivedAt` and
 * `queueReceivedAt` give the local time each was received, for the countdown (js/timer.js).
 *
 * Questions are ordered by the session's questions `version`: `myQuestions` (MyQuestions) keeps only a newer
 * update. The approved questions (`questions`) and, for staff, every question (`moderation`) come whole only in
 * the welcome and on a re-read (`questions:get`); after that the server sends what changed (`questions:changed`,
 * `questions:staff_changed`), and this client applies it (QuestionLedger): each question's content and its
 * votes are taken only from an update at least as new as the one they came from, and a delta that shows one
 * was missed brings a re-read.
 */

import { io as defaultIo } from '../vendor/socket.io/socket.io.esm.min.js';

// ---------------------------------------------------------------------------------------------------------
// Payloads (mirroring docs/protocol.md)

/** @typedef {'scheduled' | 'live' | 'ended'} SessionState */
/** @typedef {'admin' | 'moderator' | 'chair' | 'av' | 'captioner' | 'interpreter' | 'display' | 'attendee'} Role */
/**
 * @typedef {'government' | 'private_sector' | 'civil_society' | 'academic_technical'
 *   | 'international_organization'} StakeholderGroup
 */

/**
 * @typedef {object} HemicycleEvent  an event of the agenda (called `Event` in docs/protocol.md)
 * @property {number} id
 * @property {string} slug
 * @property {string} title
 * @property {string} venue
 * @property {string} timezone   IANA name, e.g. "Europe/Zurich"
 */

/**
 * @typedef {object} Session
 * @property {number} id
 * @property {number} event_id
 * @property {string} ref
 * @property {string} title
 * @property {string} room
 * @property {string} starts_at          ISO 8601, UTC, with a Z
 * @property {string} ends_at
 * @property {string[]} languages
 * @property {SessionState} state
 * @property {string | null} state_changed_at
 * @property {number} default_speaking_seconds
 * @property {boolean} is_public
 */

/**
 * @typedef {object} Participant
 * @property {number} id
 * @property {string} display_name
 * @property {string} affiliation
 * @property {StakeholderGroup | null} stakeholder_group
 * @property {string | null} country    ISO 3166-1 alpha-2
 * @property {Role} role
 */

/**
 * @typedef {Participant & {session_id: number | null, grant_id: number}} Me
 *   `session_id` is null for grants that cover the whole event (admin, attendee).
 */

/**
 * @typedef {Participant & {connections: number, since: string}} Person  someone connected to the session
 */

/**
 * @typedef {object} PresenceSummary
 * @property {number} session_id
 * @property {number} total                               people connected (every role)
 * @property {Partial<Record<Role, number>>} by_role
 * @property {Record<string, number>} by_group            attendees only; "unspecified" when not stated
 */

/** @typedef {'statement' | 'question' | 'right_of_reply' | 'point_of_order'} InterventionType */
/** @typedef {'queued' | 'speaking' | 'done' | 'removed' | 'withdrawn'} EntryState */
/** @typedef {'finished' | 'revoked' | 'time_up' | 'disconnected' | 'replaced'} EndReason */

/**
 * @typedef {object} Entry   a request for the floor, as anyone may see it (never gender or age band)
 * @property {number} id
 * @property {number | null} participant_id   null for an in-room request
 * @property {boolean} in_room
 * @property {string} display_name
 * @property {string} affiliation
 * @property {StakeholderGroup | null} stakeholder_group
 * @property {string | null} country
 * @property {InterventionType} type
 * @property {string} language
 * @property {EntryState} state
 */

/**
 * @typedef {Entry & {
 *   position: number, requested_at: string, granted_at: string | null, ended_at: string | null,
 *   limit_seconds: number | null, allowed_seconds: number, deadline: string | null, spoken_seconds: number,
 *   overrun_seconds: number, end_reason: EndReason | null, removed_reason: string | null
 * }} StaffEntry   what floor staff see of a request, with its timings
 */

/**
 * @typedef {object} Timer   the countdown every page shows (js/timer.js counts it down)
 * @property {string} granted_at
 * @property {string} deadline
 * @property {number} allowed_seconds
 * @property {string} server_time
 * @property {number} remaining_seconds
 * @property {'speaking' | 'ending' | 'over'} phase
 */

/**
 * @typedef {object} Floor   who speaks now, for everyone
 * @property {number} session_id
 * @property {number} version
 * @property {Entry | null} speaking
 * @property {Timer | null} timer
 * @property {Entry[]} next            the next two in line
 * @property {number} length           how many are waiting
 * @property {string} server_time
 */

/**
 * @typedef {object} QueueLine   the line's order, sent to those waiting in it
 * @property {number} session_id
 * @property {number} version
 * @property {number[]} order          the ids of the queued entries, in order: each finds their own place
 * @property {number} length
 */

/**
 * @typedef {object} MineLast   how my latest request ended, when I have no active one
 * @property {number} id
 * @property {'withdrawn' | 'removed' | 'done'} state
 * @property {string | null} removed_reason     the moderators' reason, when removed
 * @property {EndReason | null} end_reason      how the turn ended, when done
 */

/**
 * @typedef {object} Mine   my own request
 * @property {number} session_id
 * @property {number} version
 * @property {Entry | null} entry
 * @property {number | null} place     1-based place in line while queued
 * @property {MineLast | null} last    when `entry` is null: how my latest request ended (null if none)
 * @property {number} length
 * @property {Timer | null} timer      while I hold the floor
 */

/**
 * @typedef {{queue: Record<string, number>, interventions: Record<string, number>,
 *   speaking_seconds: Record<string, number>}} BalanceCounts
 */
/** @typedef {Record<'stakeholder_group' | 'gender' | 'youth' | 'region', BalanceCounts>} Balance */

/**
 * @typedef {object} QueueSettings
 * @property {number} default_speaking_seconds
 * @property {number | null} auto_end_grace_seconds   null: turns do not end by themselves
 * @property {Record<string, Record<string, number>>} [targets]   wished-for shares of interventions, 0–1
 */

/**
 * @typedef {object} Queue   the whole queue, for floor staff
 * @property {number} session_id
 * @property {number} version
 * @property {StaffEntry[]} queue
 * @property {StaffEntry | null} speaking
 * @property {Timer | null} timer
 * @property {StaffEntry[]} record     the last 50 interventions that had the floor, oldest first
 * @property {Balance} balance
 * @property {{entry_id: number, display_name: string, improves: {dimension: string, value: string}[]} | null} suggestion
 * @property {QueueSettings} settings
 * @property {string} server_time
 */

/**
 * @typedef {object} InRoomRequest   body of `queue:add_in_room`
 * @property {string} display_name
 * @property {string} [affiliation]
 * @property {StakeholderGroup} stakeholder_group
 * @property {string} [country]
 * @property {boolean} [consent_demographics]
 * @property {'woman' | 'man' | 'another'} [gender]
 * @property {string} [age_band]
 * @property {InterventionType} [type]
 * @property {string} language
 */

// --- questions ---

/** @typedef {'pending' | 'approved' | 'dismissed' | 'merged' | 'withdrawn'} QuestionState */
/** @typedef {'none' | 'forwarded' | 'read' | 'answered'} QuestionStage */

/**
 * @typedef {object} QuestionAsker   who asked, as others see it ("Anonymous" and the rest empty when anonymous)
 * @property {string} display_name
 * @property {string} affiliation
 * @property {StakeholderGroup | null} stakeholder_group
 * @property {string | null} country
 */

/**
 * @typedef {object} PublicQuestion   an approved question, as everyone sees it
 * @property {number} id
 * @property {string} text
 * @property {string} to                  "" for the panel, or the speaker it is addressed to
 * @property {QuestionAsker} asker
 * @property {boolean} anonymous
 * @property {number} votes
 * @property {QuestionStage} stage
 * @property {boolean} starred
 * @property {string} created_at
 * @property {string | null} read_at
 */

/**
 * @typedef {PublicQuestion & {
 *   state: QuestionState, dismiss_reason: string | null, editable: boolean, voted: boolean
 * }} OwnQuestion   one of my questions, in any state, with my real name as asker
 */

/**
 * @typedef {object} QuestionEditRecord   one change of a question's text (typo fixes are kept)
 * @property {string} at
 * @property {{id: number | null, role: string}} by
 * @property {string} before
 * @property {string} after
 */

/**
 * @typedef {PublicQuestion & {
 *   asker: QuestionAsker & {participant_id: number},
 *   state: QuestionState, approved_at: string | null, dismissed_at: string | null, dismiss_reason: string | null,
 *   merged_into: number | null, merged_from: number[], forwarded_at: string | null, answered_at: string | null,
 *   edits: QuestionEditRecord[]
 * }} StaffQuestion   what staff see: the real asker (even when anonymous to others) and the whole history
 */

/**
 * @typedef {object} PublicQuestions   `questions` in the welcome and in the `questions:get` ack; kept up to date
 *   here from `questions:changed`
 * @property {number} session_id
 * @property {number} version
 * @property {boolean} premoderated     true: questions wait for a moderator before everyone sees them
 * @property {number} max_chars         the longest question accepted, in characters
 * @property {PublicQuestion[]} questions   approved questions only
 * @property {PublicQuestion | null} reading   the question being read aloud in the room
 */

/**
 * @typedef {object} QuestionsChanged   `questions:changed`: what changed among the approved questions
 * @property {number} session_id
 * @property {number} version           the session's questions version the changes were read at
 * @property {boolean} premoderated
 * @property {(PublicQuestion | {id: number, votes: number})[]} questions   changed or newly approved ones; only
 *   `{id, votes}` when nothing but the votes changed
 * @property {number[]} removed         ids no longer approved (merged, dismissed)
 * @property {number | null} reading_id the question being read aloud, one of the approved ones
 * @property {string} origin            the server process that sent it
 * @property {number | null} previous   that process's previous `version` sent, to see a missed one
 */

/**
 * @typedef {object} ModerationChanged   `questions:staff_changed` (staff): what changed among all the questions
 * @property {number} session_id
 * @property {number} version
 * @property {boolean} premoderated
 * @property {(StaffQuestion | {id: number, votes: number, late_votes: number})[]} questions   changed ones;
 *   only `{id, votes, late_votes}` when nothing but the votes changed
 * @property {QuestionCounts} counts
 * @property {string} origin
 * @property {number | null} previous
 */

/**
 * @typedef {object} MyQuestions   `questions:mine`, and `my_questions` in the welcome
 * @property {number} session_id
 * @property {number} version
 * @property {OwnQuestion[]} questions
 * @property {number[]} voted           ids of the questions I voted for
 */

/**
 * @typedef {object} QuestionCounts   the funnel for the session report
 * @property {number} asked
 * @property {number} pending
 * @property {number} approved
 * @property {number} dismissed
 * @property {number} merged
 * @property {number} withdrawn
 * @property {number} forwarded
 * @property {number} read_aloud
 * @property {number} answered
 */

/**
 * @typedef {object} Moderation   `moderation` in the welcome and in the `questions:get` ack (staff); kept up to
 *   date here from `questions:staff_changed`
 * @property {number} session_id
 * @property {number} version
 * @property {boolean} premoderated
 * @property {number} max_chars
 * @property {StaffQuestion[]} questions   every question, in every state
 * @property {QuestionCounts} counts
 */

/**
 * @typedef {object} QuestionRequest   body of `question:post`
 * @property {string} text
 * @property {string} [to]               a named speaker; empty or absent: the panel
 * @property {boolean} [anonymous]       hidden from other participants; moderators still see who asked
 */

/** @typedef {{question_id: number, votes: number, voted: boolean}} VoteResult   ack of vote and unvote */
/** @typedef {'approve' | 'dismiss' | 'star' | 'unstar'} ModerationAction */

/**
 * @typedef {object} Welcome
 * @property {Me} me
 * @property {Session} session
 * @property {HemicycleEvent} event
 * @property {string[]} permissions                       e.g. "session.view", "session.set_state"
 * @property {PresenceSummary} presence
 * @property {Floor} [floor]
 * @property {Mine} [mine]
 * @property {Person[]} [people]                          staff only
 * @property {Queue} [queue]                              staff only
 * @property {PublicQuestions} [questions]
 * @property {MyQuestions} [my_questions]
 * @property {Moderation} [moderation]                    staff only
 * @property {RecentCaptions} [captions]                  the last lines of each caption language
 */

/** @typedef {{id: number, name: string, role: Role}} Actor */

/** @typedef {{session: Session, by: Actor}} SessionStateMessage */
/** @typedef {{session_id: number, people: Person[]}} PresencePeopleMessage */
/** @typedef {{code: string, message: string, event: string}} ServerError */

/**
 * @typedef {{ok: true, data: Record<string, any>} | {ok: false, error: {code: string, message: string}}} Ack
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

/**
 * @typedef {'idle' | 'connecting' | 'waiting' | 'connected' | 'reconnecting' | 'refused' | 'closed'} ConnectionState
 *   idle: connect() not called yet; connecting: first attempt (and its retries) under way;
 *   waiting: accepted but held in the session's waiting room until a moderator admits (then `welcome`);
 *   connected: welcome received; reconnecting: the link dropped and the client retries on its own;
 *   refused: the server turned the token down (see `refusal`), no retry; closed: close() was called or the
 *   server ended the connection, no retry until connect() is called again.
 */

// ---------------------------------------------------------------------------------------------------------
// Errors

/**
 * An error from the server (HTTP body `{"error": {...}}`, ack `{ok: false, error}`, `connect_error` data)
 * or from this client. Codes made up by the client, never sent by the server:
 *   network        the server could not be reached
 *   timeout        no acknowledgement in time
 *   not_connected  a request was made while the socket is not connected
 *   bad_response   the server answered something this client does not understand
 */
export class ProtocolError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {{status?: number, details?: any, event?: string}} [extra]
   */
  constructor(code, message, { status, details, event } = {}) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
    this.status = status;
    this.details = details;
    this.event = event;
  }

  /** The field the server named in `details.field`, if any. @returns {string | null} */
  get field() {
    return this.details && typeof this.details.field === 'string' ? this.details.field : null;
  }
}

/** Codes that mean the stored token will never work again: pages forget it. */
export const DEAD_TOKEN_CODES = Object.freeze([
  'token_missing', 'token_invalid', 'token_expired', 'token_revoked', 'token_unknown', 'wrong_session',
]);

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
const seg = (id) => encodeURIComponent(String(id));

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
 * A file from the API (an export or a report), fetched with the token in the Authorization header, never
 * in the URL; the caller shows it or saves the Blob (e.g. through a Blob URL).
 * @param {string} path
 * @param {string} accept
 * @param {string} token
 * @param {string} fallbackName   the file name when the server sends none
 * @param {string} [baseUrl]
 * @returns {Promise<{blob: Blob, filename: string}>}
 */
async function fetchFile(path, accept, token, fallbackName, baseUrl = '') {
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

/**
 * The session's questions for the report, as a file (admin, moderator).
 * @param {number | string} sessionId
 * @param {'csv' | 'json'} format
 * @param {string} token
 * @param {{baseUrl?: string}} [options]
 * @returns {Promise<{blob: Blob, filename: string}>}
 */
export function exportQuestions(sessionId, format, token, { baseUrl = '' } = {}) {
  return fetchFile(`/api/sessions/${seg(sessionId)}/questions?format=${encodeURIComponent(format)}`,
    format === 'csv' ? 'text/csv' : 'application/json', token, `session-${sessionId}-questions.${format}`, baseUrl);
}

/** @typedef {'figures' | 'interventions' | 'attendance' | 'audit' | 'transcript'} ReportPart */

// --- live captions ---

/** The caption channels: the floor (what is said in the room) and the six UN languages. */
export const CAPTION_LANGUAGES = Object.freeze(['floor', 'ar', 'zh', 'en', 'fr', 'ru', 'es']);
/** The longest line the server takes, once cleaned. */
export const CAPTION_MAX_CHARS = 500;
// How many lines the client keeps (the page shows fewer; the transcript is the server's).
const CAPTIONS_KEPT = 500;

/**
 * @typedef {object} CaptionLine   `caption`, and the lines of RecentCaptions
 * @property {number} session_id
 * @property {number} seq        1, 2, 3... per session, every language together, in the order stored
 * @property {string} language   `floor` or a UN language code
 * @property {string} text
 * @property {string} at         when the server stored it
 * @property {{id: number | null, name: string}} by   the captioner
 */
/** @typedef {{session_id: number, seq: number, lines: CaptionLine[]}} RecentCaptions */

/**
 * The session's caption transcript as a file (admin, moderator, captioner).
 * @param {number | string} sessionId
 * @param {'json' | 'txt' | 'vtt'} format
 * @param {string} token
 * @param {{language?: string, baseUrl?: string}} [options]   `vtt` needs a language
 * @returns {Promise<{blob: Blob, filename: string}>}
 */
export function exportTranscript(sessionId, format, token, { language, baseUrl = '' } = {}) {
  const query = new URLSearchParams({ format });
  if (language) query.set('language', language);
  const types = { json: 'application/json', txt: 'text/plain', vtt: 'text/vtt' };
  return fetchFile(`/api/sessions/${seg(sessionId)}/transcript?${query}`, types[format], token,
    `session-${sessionId}-transcript${language ? `-${language}` : ''}.${format}`, baseUrl);
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

// ---------------------------------------------------------------------------------------------------------
// Socket.IO

/**
 * A versioned payload (Floor, Mine, Queue, PublicQuestions, MyQuestions, Moderation) with the version that orders it.
 * @param {unknown} value
 * @returns {value is {session_id: number, version: number}}
 */
function isVersioned(value) {
  return !!value && typeof value === 'object' && typeof /** @type {any} */ (value).version === 'number';
}

/** How long a request waits for its acknowledgement. */
export const ACK_TIMEOUT_MS = 10_000;

/** An error event that arrives this long after its request settled is taken as that request's echo. */
const ERROR_ECHO_MS = 3_000;

/**
 * A list of questions kept up to date from whole lists (the welcome, `questions:get`) and deltas
 * (`questions:changed`, `questions:staff_changed`), which several server processes send, each in its own order.
 * Each question's content and its votes carry the version they were read at, and an update older than what is
 * held for them is not taken; a question no longer in a list (or in a delta's `removed`) is dropped the same
 * way. The fields named in `metaKeys` (settings, counts...) are taken from any update newer than the last.
 */
class QuestionLedger {
  /** @type {Map<number, any>} */ items = new Map();
  /** @type {Record<string, unknown>} */ meta = {};
  version = 0;
  /** @type {number | string} */ sessionId = 0;
  ready = false;
  /** @type {Map<number, {content: number, votes: number}>} */ #labels = new Map();
  /** The version of the last whole list taken: every question without a label of its own is as of it. */
  #base = 0;
  #metaVersion = 0;
  /** The last delta version seen from each server process, to notice one that went missing. */
  /** @type {Map<string, number>} */ #origins = new Map();
  /** @type {string[]} */ #metaKeys;

  /** @param {string[]} metaKeys */
  constructor(metaKeys) {
    this.#metaKeys = metaKeys;
  }

  clear() {
    this.items.clear();
    this.#labels.clear();
    this.#origins.clear();
    this.meta = {};
    this.ready = false;
  }

  /**
   * A whole list as of `version`: replaces everything (a welcome: `fresh`) or is merged (a re-read).
   * @param {any[]} questions
   * @param {number} version
   * @param {Record<string, unknown>} meta   the list's other fields
   * @param {boolean} fresh
   */
  takeList(questions, version, meta, fresh) {
    this.sessionId = /** @type {any} */ (meta).session_id ?? this.sessionId;
    if (fresh || !this.ready) {
      if (fresh) this.clear();
      this.items = new Map(questions.map((q) => [q.id, q]));
      this.#labels.clear();
      this.#base = this.#metaVersion = this.version = version;
      this.meta = this.#pick(meta);
      this.ready = true;
      return;
    }
    const listed = new Set(questions.map((q) => q.id));
    for (const q of questions) this.#take(q, version);
    for (const id of [...this.items.keys()]) if (!listed.has(id)) this.#drop(id, version);
    this.#base = Math.max(this.#base, version);
    for (const [id, label] of this.#labels) {
      if (label.content <= this.#base && label.votes <= this.#base) this.#labels.delete(id);
    }
    this.#takeMeta(meta, version);
  }

  /**
   * One delta. Returns whether one before it went missing (or it names a question not held): the caller then
   * reads the whole list again; null when it is not a delta.
   * @param {{version: number, questions?: unknown, removed?: unknown, origin?: unknown, previous?: unknown}} delta
   * @returns {boolean | null}
   */
  takeDelta(delta) {
    if (!Array.isArray(delta.questions)) return null;
    const { version } = delta;
    // Each process's deltas arrive in the order it sent them; one that does not follow the last one seen
    // from it (or, the first seen from it, that follows one newer than the list held) means one was missed.
    const origin = String(delta.origin ?? '');
    const previous = typeof delta.previous === 'number' ? delta.previous : 0;
    const known = this.#origins.get(origin);
    let missed = known === undefined ? previous > this.#base : previous !== known;
    this.#origins.set(origin, version);
    for (const q of delta.questions) if (!this.#take(q, version)) missed = true;
    if (Array.isArray(delta.removed)) {
      for (const id of delta.removed) if (typeof id === 'number') this.#drop(id, version);
    }
    this.#takeMeta(/** @type {any} */ (delta), version);
    return missed;
  }

  /** The questions held, by id (the order they were asked in). */
  list() {
    return [...this.items.values()].sort((a, b) => a.id - b.id);
  }

  /** @param {Record<string, unknown>} meta */
  #pick(meta) {
    /** @type {Record<string, unknown>} */
    const picked = {};
    for (const key of this.#metaKeys) if (key in meta) picked[key] = meta[key];
    return picked;
  }

  /**
   * @param {Record<string, unknown>} meta
   * @param {number} version
   */
  #takeMeta(meta, version) {
    if (version >= this.#metaVersion) {
      Object.assign(this.meta, this.#pick(meta));
      this.#metaVersion = version;
    }
    this.version = Math.max(this.version, version);
  }

  /** @param {number} id */
  #labelOf(id) {
    let label = this.#labels.get(id);
    if (!label) {
      label = { content: this.#base, votes: this.#base };
      this.#labels.set(id, label);
    }
    return label;
  }

  /**
   * One question as of `version`: all of it, or only its votes (`{id, votes}`). Returns false when only the
   * votes came for a question not held although it should be: the list needs reading again.
   * @param {any} q
   * @param {number} version
   */
  #take(q, version) {
    if (!q || typeof q.id !== 'number' || typeof q.votes !== 'number') return true;
    const label = this.#labelOf(q.id);
    if ('text' in q && version >= label.content) {
      const before = this.items.get(q.id);
      this.items.set(q.id, before && version < label.votes
        ? { ...q, votes: before.votes, late_votes: before.late_votes } : q);
      label.content = version;
    }
    if (version >= label.votes) {
      const current = this.items.get(q.id);
      if (!current) return version < label.content;
      // Staff deltas carry the late votes (counted apart from the public figure) beside the votes.
      const late = 'late_votes' in q ? q.late_votes : current.late_votes;
      if (current.votes !== q.votes || current.late_votes !== late) {
        this.items.set(q.id, { ...current, votes: q.votes, late_votes: late });
      }
      label.votes = version;
    }
    return true;
  }

  /**
   * @param {number} id
   * @param {number} version
   */
  #drop(id, version) {
    const label = this.#labelOf(id);
    if (version < label.content) return;
    this.items.delete(id);
    label.content = version;
  }
}

/**
 * One connection to one session, and the state it brings.
 */
export class HemicycleClient extends EventTarget {
  /** @type {typeof defaultIo} */ #io;
  /** @type {any} */ #socket = null;
  /** @type {string} */ #token;
  /** @type {number | string} */ #sessionId;
  /** @type {string} */ #baseUrl;
  /** @type {number} */ #ackTimeoutMs;

  /** @type {ConnectionState} */ #connection = 'idle';
  /** @type {{code: string, message: string} | null} */ #refusal = null;
  /** @type {boolean} */ #welcomed = false;
  /** @type {Me | null} */ #me = null;
  /** @type {Session | null} */ #session = null;
  /** @type {HemicycleEvent | null} */ #event = null;
  /** @type {string[]} */ #permissions = [];
  /** @type {PresenceSummary | null} */ #presence = null;
  /** @type {Person[] | null} */ #people = null;
  /** @type {Floor | null} */ #floor = null;
  /** @type {Mine | null} */ #mine = null;
  /** @type {QueueLine | null} */ #line = null;
  /** @type {Queue | null} */ #queue = null;
  /** @type {PublicQuestions | null} */ #questions = null;
  /** The approved questions and (staff) every question, kept from whole lists and deltas. */
  #publicLedger = new QuestionLedger(['premoderated', 'max_chars', 'reading_id']);
  #staffLedger = new QuestionLedger(['premoderated', 'max_chars', 'counts']);
  /** @type {'idle' | 'running' | 'again'} */ #questionsResync = 'idle';
  /** @type {MyQuestions | null} */ #myQuestions = null;
  /** @type {CaptionLine[]} */ #captions = [];
  /** @type {Moderation | null} */ #moderation = null;
  /** Local Date.now() when each was received (the countdown corrects the clock from it). */
  #floorAt = 0;
  #mineAt = 0;
  #queueAt = 0;
  /** Requests in flight or just settled, by event name: to mark the server's `error` echo of an ack. */
  /** @type {Map<string, {pending: number, until: number}>} */ #requests = new Map();

  /**
   * @param {object} options
   * @param {number | string} options.sessionId
   * @param {string} options.token
   * @param {string} [options.baseUrl]   "" for the page's own origin
   * @param {typeof defaultIo} [options.io]   the Socket.IO `io` function (tests may pass a fake)
   * @param {number} [options.ackTimeoutMs]
   */
  constructor({ sessionId, token, baseUrl = '', io = defaultIo, ackTimeoutMs = ACK_TIMEOUT_MS }) {
    super();
    if (sessionId === undefined || sessionId === null || sessionId === '') {
      throw new TypeError('HemicycleClient: sessionId is required');
    }
    if (!token) throw new TypeError('HemicycleClient: token is required');
    this.#sessionId = sessionId;
    this.#token = token;
    this.#baseUrl = baseUrl;
    this.#io = io;
    this.#ackTimeoutMs = ackTimeoutMs;
  }

  // --- state, read-only from outside -------------------------------------------------------------------

  get sessionId() { return this.#sessionId; }
  get token() { return this.#token; }
  /** @returns {ConnectionState} */
  get connection() { return this.#connection; }
  /** Why the server refused the connection (its `code` and `message`), when `connection` is "refused". */
  get refusal() { return this.#refusal; }
  get me() { return this.#me; }
  get session() { return this.#session; }
  get event() { return this.#event; }
  get permissions() { return this.#permissions; }
  get presence() { return this.#presence; }
  /** The roster, for staff; null for roles that see counts only. */
  get people() { return this.#people; }
  /** Who speaks, the countdown and the next two in line (everyone). */
  get floor() { return this.#floor; }
  /** My own request and place in line, or my turn (everyone; attendees use it). */
  get mine() { return this.#mine; }
  /** The whole queue, record, balance and suggestion: floor staff only; null for the others. */
  get queue() { return this.#queue; }
  /** Approved questions, the one being read aloud, the settings posting needs (everyone). */
  get questions() { return this.#questions; }
  /** My own questions in any state, and what I voted for. */
  get myQuestions() { return this.#myQuestions; }
  /** Every question with its asker and history, and the counts: staff only; null for the others. */
  get moderation() { return this.#moderation; }
  /** Caption lines received (recent ones from the welcome, then each new one), every language, by `seq`. */
  get captions() { return this.#captions; }
  get floorReceivedAt() { return this.#floorAt; }
  get mineReceivedAt() { return this.#mineAt; }
  get queueReceivedAt() { return this.#queueAt; }

  /** @param {string} permission  e.g. "session.set_state" */
  can(permission) {
    return this.#permissions.includes(permission);
  }

  /**
   * Listen to one of the events listed at the top of this module.
   * @param {string} type
   * @param {(detail: any) => void} listener
   * @returns {() => void} a function that stops listening
   */
  on(type, listener) {
    /** @param {Event} event */
    const wrapped = (event) => listener(/** @type {CustomEvent} */ (event).detail);
    this.addEventListener(type, wrapped);
    return () => this.removeEventListener(type, wrapped);
  }

  /**
   * @param {string} type
   * @param {unknown} detail
   */
  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /**
   * The one place the connection state changes.
   * @param {ConnectionState} state
   */
  #setConnection(state) {
    if (state === this.#connection) return;
    const previous = this.#connection;
    this.#connection = state;
    this.#emit('connection', { state, previous, refusal: this.#refusal });
  }

  // --- connection --------------------------------------------------------------------------------------

  /** Open the connection (or open it again after `close()` or a server disconnect). */
  connect() {
    this.#refusal = null;
    if (this.#socket) {
      this.#setConnection(this.#welcomed ? 'reconnecting' : 'connecting');
      this.#socket.connect();
      return;
    }
    /** @type {Record<string, unknown>} */
    const options = {
      // A function, so that every reconnection sends the current token.
      auth: (/** @type {(auth: object) => void} */ callback) =>
        callback({ token: this.#token, session_id: this.#sessionId }),
      autoConnect: false,
      forceNew: true, // one manager per client: two clients never share a connection or its auth
      // WebSocket first: one connection instead of a polling handshake then an upgrade (less load with
      // hundreds of attendees, no upgrade race when a page reloads). If it fails, long-polling is tried at
      // once (tryAllTransports), and if it stalls, later attempts start with polling (see connect_error).
      transports: ['websocket', 'polling'],
      tryAllTransports: true,
      // When a server process is lost, all of its attendees (thousands at a session's opening) drop at the
      // same moment. The first attempt waits 1 s ± 90% (0.1 to 1.9 s, evenly spread), so the surviving
      // processes take the crowd in over two seconds instead of in one burst, and nobody waits long; each
      // later attempt doubles (still ± 90%), up to 8 s, for a service that is down a while.
      reconnectionDelay: 1000,
      randomizationFactor: 0.9,
      reconnectionDelayMax: 8000,
      // A key, random per page, that a load balancer in front of several processes keeps all requests of
      // this page together by (deploy/nginx): long-polling needs every request of a connection on the process
      // that holds it, and keying by address alone would put a whole venue behind one NAT on one process.
      // The server ignores it.
      query: { route: Math.random().toString(36).slice(2, 12) },
    };
    const socket = this.#baseUrl ? this.#io(this.#baseUrl, options) : this.#io(options);
    this.#socket = socket;
    this.#listenModeration(socket);

    socket.on('welcome', (/** @type {Welcome} */ payload) => this.#onWelcome(payload));
    socket.on('session:state', (/** @type {SessionStateMessage} */ payload) => {
      if (payload && payload.session) this.#applySession(payload.session, payload.by ?? null);
    });
    socket.on('presence', (/** @type {PresenceSummary} */ payload) => this.#applyPresence(payload));
    socket.on('presence:people', (/** @type {PresencePeopleMessage} */ payload) => {
      if (payload && Array.isArray(payload.people) && this.#isOurs(payload.session_id)) {
        this.#people = payload.people;
        this.#emit('presence:people', payload);
      }
    });
    socket.on('floor', (/** @type {Floor} */ payload) => this.#applyFloor(payload));
    socket.on('queue:mine', (/** @type {Mine} */ payload) => this.#applyMine(payload));
    socket.on('queue:line', (/** @type {QueueLine} */ payload) => this.#applyLine(payload));
    socket.on('queue', (/** @type {Queue} */ payload) => this.#applyQueue(payload));
    socket.on('questions:changed', (/** @type {QuestionsChanged} */ payload) => this.#applyQuestionsChanged(payload));
    socket.on('questions:mine', (/** @type {MyQuestions} */ payload) => this.#applyMyQuestions(payload));
    // Media (js/media.js listens): the relay ended a connection of mine; the relay's health, for staff.
    socket.on('media:stopped', (/** @type {unknown} */ payload) => this.#emit('media:stopped', payload));
    socket.on('media:health', (/** @type {unknown} */ payload) => this.#emit('media:health', payload));
    // Which interpretation channels are on air, whenever that changes (pages offer only those).
    socket.on('media:channels', (/** @type {{session_id: number, on_air: string[]}} */ payload) => {
      if (!payload || !this.#isOurs(payload.session_id) || !Array.isArray(payload.on_air)) return;
      this.#onAir = payload.on_air;
      this.#emit('media:channels', { onAir: payload.on_air });
    });
    socket.on('questions:staff_changed', (/** @type {ModerationChanged} */ payload) => this.#applyModerationChanged(payload));
    socket.on('caption', (/** @type {CaptionLine} */ payload) => this.#applyCaption(payload));
    socket.on('error', (/** @type {ServerError} */ payload) => {
      const entry = payload && this.#requests.get(payload.event);
      const handledByRequest = !!entry && (entry.pending > 0 || Date.now() < entry.until);
      this.#emit('error', { ...payload, handledByRequest });
    });
    socket.on('connect_error', (/** @type {Error & {data?: any}} */ err) => {
      const data = err && err.data;
      if ((data && typeof data.code === 'string') || !socket.active) {
        // Refused by the server (bad token, wrong session...): Socket.IO does not retry these (the socket
        // is no longer `active`), and retrying would not help. Stop the manager too, so nothing retries
        // behind the page's back.
        this.#refusal = {
          code: data && typeof data.code === 'string' ? data.code : 'refused',
          message: String((data && data.message) || (err && err.message) || 'The server refused the connection.'),
        };
        socket.disconnect();
        this.#setConnection('refused');
      } else {
        // The server could not be reached: Socket.IO retries with backoff. If WebSocket was tried, the next
        // attempts start with long-polling and upgrade when they can (Socket.IO's default), which gets through
        // proxies that block or stall WebSockets.
        const manager = socket.io;
        if (manager && manager.opts && Array.isArray(manager.opts.transports)
            && manager.opts.transports[0] === 'websocket') {
          manager.opts.transports = ['polling', 'websocket'];
        }
        this.#setConnection(this.#welcomed ? 'reconnecting' : 'connecting');
      }
    });
    socket.on('disconnect', (/** @type {string} */ reason) => {
      if (this.#connection === 'refused') return;
      if (reason === 'io client disconnect' || reason === 'io server disconnect') {
        // Ours (close()) or the server's decision (e.g. flooding): Socket.IO does not retry.
        this.#setConnection('closed');
      } else {
        this.#setConnection('reconnecting');
      }
    });

    this.#setConnection('connecting');
    socket.connect();
  }

  /** Close the connection; nothing retries until `connect()`. */
  close() {
    if (this.#socket) this.#socket.disconnect();
    this.#setConnection('closed');
  }

  /** @param {unknown} sessionId */
  #isOurs(sessionId) {
    // Compare as strings: the path gives "12" or 12, the server sends 12.
    return sessionId === undefined || String(sessionId) === String(this.#sessionId);
  }

  /** @param {Welcome} payload */
  #onWelcome(payload) {
    if (!payload || !payload.session || !this.#isOurs(payload.session.id)) return;
    this.#me = payload.me ?? null;
    this.#session = payload.session;
    this.#event = payload.event ?? null;
    this.#permissions = Array.isArray(payload.permissions) ? payload.permissions : [];
    this.#presence = payload.presence ?? null;
    this.#people = Array.isArray(payload.people) ? payload.people : null;
    // A welcome is a fresh read: it replaces whatever was held, whatever its version.
    const now = Date.now();
    this.#floor = isVersioned(payload.floor) ? payload.floor : null;
    this.#mine = isVersioned(payload.mine) ? payload.mine : null;
    this.#line = null; // the welcome's `mine` has my place; the next line moves it
    this.#queue = isVersioned(payload.queue) ? payload.queue : null;
    this.#takeQuestionList(payload.questions, true);
    this.#takeModerationList(payload.moderation, true);
    this.#myQuestions = isVersioned(payload.my_questions) ? payload.my_questions : null;
    this.#takeRecentCaptions(payload.captions);
    this.#floorAt = this.#mineAt = this.#queueAt = now;
    this.#welcomed = true;
    this.#refusal = null;
    this.#setConnection('connected');
    this.#emit('welcome', payload);
  }

  /**
   * Take a new version of the session (from a broadcast or from our own ack); dispatch only on change, so
   * the ack and the broadcast of the same change make one event.
   * @param {Session} session
   * @param {Actor | null} by
   */
  #applySession(session, by) {
    if (!this.#isOurs(session.id)) return;
    const previous = this.#session;
    if (previous && JSON.stringify(previous) === JSON.stringify(session)) return;
    this.#session = session;
    this.#emit('session:state', { session, by, previous: previous ? previous.state : null });
  }

  /** @param {PresenceSummary} summary */
  #applyPresence(summary) {
    if (!summary || typeof summary.total !== 'number' || !this.#isOurs(summary.session_id)) return;
    this.#presence = summary;
    this.#emit('presence', summary);
  }

  /**
   * Keep an update only if it is newer than the one held (updates may arrive out of order from several
   * processes). Returns whether it was taken.
   * @template {{session_id: number, version: number}} T
   * @param {T | null} held
   * @param {unknown} incoming
   * @returns {incoming is T}
   */
  #newer(held, incoming) {
    if (!isVersioned(incoming) || !this.#isOurs(/** @type {any} */ (incoming).session_id)) return false;
    return !held || /** @type {any} */ (incoming).version > held.version;
  }

  /** @param {unknown} floor */
  #applyFloor(floor) {
    if (!this.#newer(this.#floor, floor)) return;
    const previous = this.#floor;
    this.#floor = /** @type {Floor} */ (floor);
    this.#floorAt = Date.now();
    this.#emit('floor', { floor, previous });
  }

  /** @param {unknown} line */
  #applyLine(line) {
    if (!this.#newer(this.#line, line) || !Array.isArray(/** @type {any} */ (line).order)) return;
    this.#line = /** @type {QueueLine} */ (line);
    this.#placeFromLine(this.#line);
  }

  /**
   * The server tells me my own request only when it changes; my place moves with everyone else's, so I
   * read it from each newer line's order. The version stays the one of my request (an own update of the
   * same version as this line must still be taken); only place and length follow the line.
   * @param {QueueLine} line
   */
  #placeFromLine(line) {
    const mine = this.#mine;
    const entry = mine?.entry;
    if (!mine || !entry || entry.state !== 'queued') return;
    if (line.version < mine.version) return;
    const index = line.order.indexOf(entry.id);
    if (index < 0) return; // granted or taken out: my own update says which
    const place = index + 1;
    if (place === mine.place && line.length === mine.length) return;
    const previous = mine;
    this.#mine = { ...mine, place, length: line.length };
    this.#emit('queue:mine', { mine: this.#mine, previous });
  }

  /** @param {unknown} mine */
  #applyMine(mine) {
    if (!this.#newer(this.#mine, mine)) return;
    const previous = this.#mine;
    this.#mine = /** @type {Mine} */ (mine);
    this.#mineAt = Date.now();
    this.#emit('queue:mine', { mine, previous });
    // A line newer than this own update may already be here: my place is the one in its order.
    if (this.#line) this.#placeFromLine(this.#line);
  }

  /** @param {unknown} queue */
  #applyQueue(queue) {
    if (!this.#newer(this.#queue, queue)) return;
    const previous = this.#queue;
    this.#queue = /** @type {Queue} */ (queue);
    this.#queueAt = Date.now();
    this.#emit('queue', { queue, previous });
  }

  /**
   * Lines from a welcome or `captions:get`: merged by `seq` with what is held, so a line broadcast while the
   * welcome was on its way is neither lost nor shown twice.
   * @param {unknown} recent
   */
  #takeRecentCaptions(recent) {
    const lines = recent && typeof recent === 'object' && Array.isArray(/** @type {any} */ (recent).lines)
      ? /** @type {RecentCaptions} */ (recent).lines : [];
    const bySeq = new Map(this.#captions.map((line) => [line.seq, line]));
    for (const line of lines) if (isCaption(line)) bySeq.set(line.seq, line);
    this.#captions = [...bySeq.values()].sort((a, b) => a.seq - b.seq).slice(-CAPTIONS_KEPT);
  }

  /**
   * One line, from the broadcast or from our own ack: taken and dispatched once, whichever comes first.
   * @param {unknown} line
   * @returns {boolean} whether it was new
   */
  #applyCaption(line) {
    if (!isCaption(line) || !this.#isOurs(line.session_id)) return false;
    if (this.#captions.some((held) => held.seq === line.seq)) return false;
    this.#captions = [...this.#captions, line].sort((a, b) => a.seq - b.seq).slice(-CAPTIONS_KEPT);
    this.#emit('caption', { caption: line });
    return true;
  }

  /**
   * A whole list of the approved questions. From a welcome (`fresh`), it replaces everything held; from a
   * re-read, it is merged, so that a delta newer than the read, already applied, is not undone.
   * @param {unknown} list
   * @param {boolean} fresh
   */
  #takeQuestionList(list, fresh) {
    const ledger = this.#publicLedger;
    if (!isVersioned(list) || !Array.isArray(/** @type {any} */ (list).questions)
        || !this.#isOurs(/** @type {any} */ (list).session_id)) {
      if (fresh) ledger.clear();
      if (fresh) this.#questions = null;
      return;
    }
    const full = /** @type {PublicQuestions} */ (list);
    const { questions, reading, ...rest } = full;
    ledger.takeList(questions, full.version, { ...rest, reading_id: reading ? reading.id : null }, fresh);
    this.#showQuestions(!fresh);
  }

  /**
   * The same for staff's list of every question.
   * @param {unknown} list
   * @param {boolean} fresh
   */
  #takeModerationList(list, fresh) {
    const ledger = this.#staffLedger;
    if (!isVersioned(list) || !Array.isArray(/** @type {any} */ (list).questions)
        || !this.#isOurs(/** @type {any} */ (list).session_id)) {
      if (fresh) ledger.clear();
      if (fresh) this.#moderation = null;
      return;
    }
    const full = /** @type {Moderation} */ (list);
    const { questions, ...rest } = full;
    ledger.takeList(questions, full.version, rest, fresh);
    this.#showModeration(!fresh);
  }

  /**
   * What changed among the approved questions, from one server process.
   * @param {unknown} payload
   */
  #applyQuestionsChanged(payload) {
    const delta = /** @type {QuestionsChanged} */ (payload);
    if (!this.#publicLedger.ready || !isVersioned(delta) || !this.#isOurs(delta.session_id)) return;
    const missed = this.#publicLedger.takeDelta(delta);
    if (missed === null) return;
    this.#showQuestions(true);
    if (missed) this.#resyncQuestions();
  }

  /**
   * What changed among all the questions, for staff, from one server process.
   * @param {unknown} payload
   */
  #applyModerationChanged(payload) {
    const delta = /** @type {ModerationChanged} */ (payload);
    if (!this.#staffLedger.ready || !isVersioned(delta) || !this.#isOurs(delta.session_id)) return;
    const missed = this.#staffLedger.takeDelta(delta);
    if (missed === null) return;
    this.#showModeration(true);
    if (missed) this.#resyncQuestions();
  }

  /** Rebuild `questions` from its ledger; dispatch `questions:public` unless it is the welcome's. */
  #showQuestions(/** @type {boolean} */ dispatch) {
    const ledger = this.#publicLedger;
    const previous = this.#questions;
    const { reading_id: readingId, ...meta } = ledger.meta;
    this.#questions = /** @type {PublicQuestions} */ ({
      ...meta,
      session_id: ledger.sessionId,
      version: ledger.version,
      questions: ledger.list(),
      reading: typeof readingId === 'number' ? ledger.items.get(readingId) ?? null : null,
    });
    if (dispatch) this.#emit('questions:public', { questions: this.#questions, previous });
  }

  /** Rebuild `moderation` from its ledger; dispatch `questions` unless it is the welcome's. */
  #showModeration(/** @type {boolean} */ dispatch) {
    const ledger = this.#staffLedger;
    const previous = this.#moderation;
    this.#moderation = /** @type {Moderation} */ ({
      ...ledger.meta, session_id: ledger.sessionId, version: ledger.version, questions: ledger.list(),
    });
    if (dispatch) this.#emit('questions', { moderation: this.#moderation, previous });
  }

  /** Read the whole list again (one read at a time; a gap seen meanwhile brings one more). */
  #resyncQuestions() {
    if (this.#questionsResync !== 'idle') {
      this.#questionsResync = 'again';
      return;
    }
    this.#questionsResync = 'running';
    this.refreshQuestions().catch(() => {}).finally(() => {
      const again = this.#questionsResync === 'again';
      this.#questionsResync = 'idle';
      if (again) this.#resyncQuestions();
    });
  }

  /** @param {unknown} mine */
  #applyMyQuestions(mine) {
    if (!this.#newer(this.#myQuestions, mine)) return;
    const previous = this.#myQuestions;
    this.#myQuestions = /** @type {MyQuestions} */ (mine);
    this.#emit('questions:mine', { mine, previous });
  }


  // --- requests ----------------------------------------------------------------------------------------

  /**
   * Send a client event and wait for its acknowledgement.
   * @param {string} event
   * @param {Record<string, unknown>} [payload]
   * @param {{timeoutMs?: number}} [options]
   * @returns {Promise<Record<string, any>>} the ack's `data`; rejects with a ProtocolError
   */
  request(event, payload = {}, { timeoutMs = this.#ackTimeoutMs } = {}) {
    if (!this.#socket || this.#connection !== 'connected') {
      // Socket.IO would buffer the message and send it on reconnection, possibly long after it made sense
      // (a state change decided on stale information): refuse now instead.
      return Promise.reject(new ProtocolError(
        'not_connected', 'Not connected to the server. Wait until the connection is back, then try again.',
        { event },
      ));
    }
    const entry = this.#requests.get(event) ?? { pending: 0, until: 0 };
    entry.pending += 1;
    this.#requests.set(event, entry);
    const settle = () => {
      entry.pending -= 1;
      entry.until = Date.now() + ERROR_ECHO_MS;
    };
    return new Promise((resolve, reject) => {
      this.#socket.timeout(timeoutMs).emit(event, payload, (/** @type {Error | null} */ err, /** @type {Ack} */ ack) => {
        settle();
        if (err) {
          reject(new ProtocolError(
            'timeout', `The server did not answer within ${Math.round(timeoutMs / 1000)} seconds. Try again.`,
            { event },
          ));
        } else if (!ack || typeof ack !== 'object') {
          reject(new ProtocolError('bad_response', 'The server sent an answer this page does not understand.',
            { event }));
        } else if (ack.ok === true) {
          resolve(ack.data ?? {});
        } else {
          const error = /** @type {any} */ (ack).error || {};
          reject(new ProtocolError(String(error.code || 'internal'), String(error.message || 'Request refused.'),
            { event, details: error.details }));
        }
      });
    });
  }

  /**
   * Change the session state (admin, moderator, chair).
   * @param {SessionState} state
   * @returns {Promise<Session>}
   */
  async setState(state) {
    const data = await this.request('session:set_state', { state });
    if (data.session) this.#applySession(data.session, this.#me ? this.#actorOf(this.#me) : null);
    return data.session;
  }

  /** Ask for fresh counts (and the roster, for staff). */
  async refreshPresence() {
    const data = await this.request('presence:get', {});
    if (Array.isArray(data.people)) {
      this.#people = data.people;
      this.#emit('presence:people', { session_id: this.#sessionId, people: data.people });
    }
    if (data.presence) this.#applyPresence(data.presence);
    return data;
  }

  // --- the speakers' queue and the floor ----------------------------------------------------------------
  // Each resolves with the ack's data and rejects with a ProtocolError ({code, message}); the state itself
  // arrives with the `floor`, `queue:mine` and `queue` broadcasts that follow (acks that carry a `Mine` are
  // applied at once, with the same version rule).

  /** Fresh floor, mine and (for staff) queue, e.g. after a stale_entry refusal. */
  async refreshQueue() {
    const data = await this.request('queue:get', {});
    this.#applyFloor(data.floor);
    this.#applyMine(data.mine);
    if (data.queue) this.#applyQueue(data.queue);
    return data;
  }

  /**
   * Raise my hand (attendees). Raising twice answers with the request already there.
   * @param {{type: InterventionType, language: string}} request
   * @returns {Promise<Mine>}
   */
  async raiseHand({ type, language }) {
    const data = await this.request('hand:raise', { type, language });
    this.#applyMine(data);
    return /** @type {Mine} */ (data);
  }

  /** Lower my hand (attendees). @returns {Promise<Mine>} */
  async lowerHand() {
    const data = await this.request('hand:lower', {});
    this.#applyMine(data);
    return /** @type {Mine} */ (data);
  }

  /**
   * Add a request made in the room (floor staff).
   * @param {InRoomRequest} request
   * @returns {Promise<{entry: Entry}>}
   */
  addInRoom(request) {
    return /** @type {any} */ (this.request('queue:add_in_room', { ...request }));
  }

  /**
   * Move a queued request (floor staff).
   * @param {number} entryId
   * @param {'up' | 'down' | 'top' | 'bottom' | number} to   a number is a 0-based index
   * @returns {Promise<{entry: Entry, position: number}>}
   */
  moveEntry(entryId, to) {
    return /** @type {any} */ (this.request('queue:move', { entry_id: entryId, to }));
  }

  /**
   * Take a request out of the queue (floor staff); the reason is required.
   * @param {number} entryId
   * @param {string} reason
   * @returns {Promise<{entry: Entry}>}
   */
  removeEntry(entryId, reason) {
    return /** @type {any} */ (this.request('queue:remove', { entry_id: entryId, reason }));
  }

  /**
   * Lower every hand (floor staff).
   * @param {string} [reason]
   * @returns {Promise<{lowered: number}>}
   */
  lowerAllHands(reason) {
    return /** @type {any} */ (this.request('queue:lower_all', reason ? { reason } : {}));
  }

  /**
   * Speaking-time settings (floor staff). `autoEnd: false` stops automatic ends; to turn them on, give
   * `autoEndGraceSeconds` (the server keeps `auto_end: true` alone as no change).
   * @param {{defaultSpeakingSeconds?: number, autoEnd?: boolean, autoEndGraceSeconds?: number,
   *   targets?: Record<string, Record<string, number>>}} settings
   *   targets: wished-for shares by dimension and value (dimensions left out keep their defaults)
   * @returns {Promise<{settings: QueueSettings}>}
   */
  queueSettings({ defaultSpeakingSeconds, autoEnd, autoEndGraceSeconds, targets }) {
    /** @type {Record<string, unknown>} */
    const body = {};
    if (targets !== undefined) body.targets = targets;
    if (defaultSpeakingSeconds !== undefined) body.default_speaking_seconds = defaultSpeakingSeconds;
    if (autoEnd !== undefined) body.auto_end = autoEnd;
    if (autoEndGraceSeconds !== undefined) body.auto_end_grace_seconds = autoEndGraceSeconds;
    return /** @type {any} */ (this.request('queue:settings', body));
  }

  /**
   * Give the floor to a queued request (floor staff); whoever speaks ends as "replaced".
   * @param {number} entryId
   * @param {{limitSeconds?: number | null}} [options]   this turn's speaking time (15–3600 s)
   * @returns {Promise<{entry: Entry}>}
   */
  grantFloor(entryId, { limitSeconds } = {}) {
    /** @type {Record<string, unknown>} */
    const body = { entry_id: entryId };
    if (limitSeconds !== undefined && limitSeconds !== null) body.limit_seconds = limitSeconds;
    return /** @type {any} */ (this.request('floor:grant', body));
  }

  /**
   * End a turn: floor staff (`revoke: true` records it as revoked), or the speaker their own.
   * @param {number} entryId
   * @param {{revoke?: boolean}} [options]
   * @returns {Promise<{entry: Entry, end_reason: EndReason}>}
   */
  endFloor(entryId, { revoke = false } = {}) {
    /** @type {Record<string, unknown>} */
    const body = { entry_id: entryId };
    if (revoke) body.revoke = true;
    return /** @type {any} */ (this.request('floor:end', body));
  }

  /**
   * Set a turn's limit, or add (negative: remove) time while it runs (floor staff).
   * @param {number} entryId
   * @param {{limitSeconds?: number, addSeconds?: number}} change
   * @returns {Promise<{entry: Entry, limit_seconds: number | null, extra_seconds: number}>}
   */
  floorTime(entryId, { limitSeconds, addSeconds }) {
    /** @type {Record<string, unknown>} */
    const body = { entry_id: entryId };
    if (limitSeconds !== undefined) body.limit_seconds = limitSeconds;
    if (addSeconds !== undefined) body.add_seconds = addSeconds;
    return /** @type {any} */ (this.request('floor:time', body));
  }

  // --- questions ---------------------------------------------------------------------------------------
  // Each resolves with the ack's data and rejects with a ProtocolError; the views themselves arrive with the
  // `questions:changed`, `questions:mine` and `questions` broadcasts that follow (a first one ~100 ms after a
  // change, then at most four a second).

  /** Fresh questions, mine and (for staff) the moderation view. */
  async refreshQuestions() {
    const data = await this.request('questions:get', {});
    this.#takeQuestionList(data.questions, false);
    if (data.moderation) this.#takeModerationList(data.moderation, false);
    this.#applyMyQuestions(data.mine);
    return data;
  }

  /**
   * Pre-moderation on or off (admin, moderator).
   * @param {{premoderated: boolean}} settings
   * @returns {Promise<{premoderated: boolean}>}
   */
  questionSettings({ premoderated }) {
    return /** @type {any} */ (this.request('questions:settings', { premoderated }));
  }

  /**
   * Post a question (attendees).
   * @param {QuestionRequest} question
   * @returns {Promise<{question: OwnQuestion}>}
   */
  postQuestion({ text, to, anonymous }) {
    /** @type {Record<string, unknown>} */
    const body = { text };
    if (to) body.to = to;
    if (anonymous) body.anonymous = true;
    return /** @type {any} */ (this.request('question:post', body));
  }

  /**
   * Change a question's text: its asker while it is pending; moderators any time (kept in `edits`).
   * @param {number} questionId
   * @param {string} text
   * @returns {Promise<{question: OwnQuestion | StaffQuestion}>}
   */
  editQuestion(questionId, text) {
    return /** @type {any} */ (this.request('question:edit', { question_id: questionId, text }));
  }

  /**
   * Take back my question while it is pending.
   * @param {number} questionId
   * @returns {Promise<{question: OwnQuestion}>}
   */
  withdrawQuestion(questionId) {
    return /** @type {any} */ (this.request('question:withdraw', { question_id: questionId }));
  }

  /**
   * Vote for someone else's approved question (attendees, once each).
   * @param {number} questionId
   * @returns {Promise<VoteResult>}
   */
  voteQuestion(questionId) {
    return /** @type {any} */ (this.request('question:vote', { question_id: questionId }));
  }

  /**
   * Take my vote back.
   * @param {number} questionId
   * @returns {Promise<VoteResult>}
   */
  unvoteQuestion(questionId) {
    return /** @type {any} */ (this.request('question:unvote', { question_id: questionId }));
  }

  /**
   * Approve, dismiss (a reason is required), star or unstar a question (admin, moderator).
   * @param {number} questionId
   * @param {ModerationAction} action
   * @param {string} [reason]
   * @returns {Promise<{question: StaffQuestion}>}
   */
  moderateQuestion(questionId, action, reason) {
    /** @type {Record<string, unknown>} */
    const body = { question_id: questionId, action };
    if (reason) body.reason = reason;
    return /** @type {any} */ (this.request('question:moderate', body));
  }

  /**
   * Fold a duplicate into another question (admin, moderator): its votes and its asker's interest move over.
   * @param {number} questionId   the duplicate
   * @param {number} intoId       the question that stays
   * @returns {Promise<{question: StaffQuestion}>}   the target
   */
  mergeQuestion(questionId, intoId) {
    return /** @type {any} */ (this.request('question:merge', { question_id: questionId, into_id: intoId }));
  }

  /**
   * Move an approved question one step towards the room: `forwarded` to the chair (admin, moderator),
   * `read` aloud, then `answered` (admin, moderator, chair).
   * @param {number} questionId
   * @param {'forwarded' | 'read' | 'answered'} stage
   * @returns {Promise<{question: StaffQuestion}>}
   */
  relayQuestion(questionId, stage) {
    return /** @type {any} */ (this.request('question:relay', { question_id: questionId, stage }));
  }

  /** @param {Me} me @returns {Actor} */
  #actorOf(me) {
    return { id: me.id, name: me.display_name, role: me.role };
  }

  // --- HTTP with this client's token ---------------------------------------------------------------------

  // --- live captions ----------------------------------------------------------------------------------

  /**
   * Post one finished caption line (captioner, admin). Resolves with the stored line (also dispatched as
   * `caption`, once); rejects with a ProtocolError (`invalid_input`, `forbidden`, `rate_limited`,
   * `session_ended`...).
   * @param {{language: string, text: string}} line
   * @returns {Promise<CaptionLine>}
   */
  async postCaption({ language, text }) {
    const data = await this.request('caption:post', { language, text });
    this.#applyCaption(data.caption);
    return data.caption;
  }

  /** The recent lines again (after a gap), merged with what is held. @returns {Promise<CaptionLine[]>} */
  async refreshCaptions() {
    const data = await this.request('captions:get', {});
    this.#takeRecentCaptions(data.captions);
    return this.#captions;
  }

  /**
   * The stored transcript as a file (admin, moderator, captioner).
   * @param {'json' | 'txt' | 'vtt'} format
   * @param {{language?: string}} [options]
   */
  exportTranscript(format, { language } = {}) {
    return exportTranscript(this.#sessionId, format, this.#token, { language, baseUrl: this.#baseUrl });
  }

  /** @returns {Promise<{entries: AuditEntry[]}>} */
  audit() {
    return getAudit(this.#sessionId, this.#token);
  }

  /**
   * The session's questions as a CSV or JSON file (admin, moderator).
   * @param {'csv' | 'json'} format
   * @returns {Promise<{blob: Blob, filename: string}>}
   */
  exportQuestions(format) {
    return exportQuestions(this.#sessionId, format, this.#token, { baseUrl: this.#baseUrl });
  }

  /** @returns {Promise<{me: Me, expires_at: string}>} */
  whoami() {
    return getMe(this.#token);
  }

  // =======================================================================================================
  // Moderating participants (issue 6): the waiting room, remove, ban, unban, mute — docs/protocol.md,
  // "Moderating participants". Events dispatched:
  //   waiting              WaitingMessage                  held in the waiting room (connection: "waiting")
  //   moderation:admitted  {session_id}                    admitted: the `welcome` follows
  //   moderation:removed   RemovedMessage                  removed or banned: the server closes the connection
  //   moderation:muted     MutedMessage                    a moderator muted or unmuted my microphone or camera
  //   moderation           {moderation, previous}          the moderation state (admins and moderators)
  // =======================================================================================================

  /** @type {WaitingMessage | null} */ #waiting = null;
  /** @type {RemovedMessage | null} */ #removal = null;
  /** @type {MutedMessage | null} */ #muted = null;
  /** @type {string[] | null} the interpretation channels on air; null until the server has said */
  #onAir = null;

  /** The interpretation channels on air (`media:channels`, or `media:config`'s `on_air`); null: not known yet. */
  get onAir() { return this.#onAir; }

  /**
   * Ask which interpretation channels are on air (media:config); `media:channels` follows each change.
   * @returns {Promise<string[] | null>}
   */
  async refreshOnAir() {
    const data = /** @type {{on_air?: string[] | null}} */ (await this.request('media:config', {}));
    if (Array.isArray(data?.on_air)) {
      this.#onAir = data.on_air;
      this.#emit('media:channels', { onAir: data.on_air });
    }
    return this.#onAir;
  }
  /** @type {ModerationState | null} */ #moderationState = null;

  /** While held in the waiting room: what the server said; null once admitted. */
  get waiting() { return this.#waiting; }
  /** Why this participant was removed or banned (the connection then closes); null otherwise. */
  get removal() { return this.#removal; }
  /** My microphone and camera as the moderators last set them (null: never muted). */
  get muted() { return this.#muted; }
  /** Waiting list, removed, muted and banned people, rules and the latest actions (moderators only). */
  get moderationState() { return this.#moderationState; }

  /** @param {any} socket */
  #listenModeration(socket) {
    socket.on('waiting', (/** @type {WaitingMessage} */ payload) => {
      if (!payload || !payload.session || !this.#isOurs(payload.session.id)) return;
      this.#waiting = payload;
      this.#removal = null;
      this.#session = payload.session;
      this.#event = payload.event ?? this.#event;
      this.#me = payload.me ?? this.#me;
      this.#setConnection('waiting');
      this.#emit('waiting', payload);
    });
    socket.on('welcome', () => { this.#waiting = null; });
    socket.on('moderation:admitted', (/** @type {{session_id: number}} */ payload) => {
      if (payload && this.#isOurs(payload.session_id)) this.#emit('moderation:admitted', payload);
    });
    socket.on('moderation:removed', (/** @type {RemovedMessage} */ payload) => {
      if (!payload || !this.#isOurs(payload.session_id)) return;
      this.#removal = payload;
      this.#emit('moderation:removed', payload);
    });
    socket.on('moderation:muted', (/** @type {MutedMessage} */ payload) => {
      if (!payload || !this.#isOurs(payload.session_id)) return;
      this.#muted = payload;
      this.#emit('moderation:muted', payload);
    });
    socket.on('moderation', (/** @type {ModerationState} */ payload) => this.#applyModerationState(payload));
  }

  /** @param {unknown} state */
  #applyModerationState(state) {
    if (!this.#newer(this.#moderationState, state)) return;
    const previous = this.#moderationState;
    this.#moderationState = /** @type {ModerationState} */ (state);
    this.#emit('moderation', { moderation: state, previous });
  }

  /** Fresh moderation state (admin, moderator). @returns {Promise<ModerationState>} */
  async refreshModeration() {
    const data = await this.request('moderation:get', {});
    // A fresh read: taken whatever its version (the broadcast of the same version may have been missed).
    this.#moderationState = null;
    this.#applyModerationState(data.moderation);
    return data.moderation;
  }

  /**
   * The waiting room on or off, and "always admit" rules (admin, moderator).
   * @param {{waitingRoom?: boolean, rules?: {stakeholder_groups: string[], affiliations: string[]}}} settings
   * @returns {Promise<{waiting_room: boolean, rules: object, admitted: number[]}>}
   */
  moderationSettings({ waitingRoom, rules }) {
    /** @type {Record<string, unknown>} */
    const body = {};
    if (waitingRoom !== undefined) body.waiting_room = waitingRoom;
    if (rules !== undefined) body.rules = rules;
    return /** @type {any} */ (this.request('moderation:settings', body));
  }

  /**
   * Let one waiting person in, naming the version of their admission this decision was taken on.
   * @param {number} participantId
   * @param {number} version
   * @returns {Promise<{participant: Admission}>}
   */
  admitParticipant(participantId, version) {
    return /** @type {any} */ (this.request('participant:admit', { participant_id: participantId, version }));
  }

  /**
   * Let everyone waiting in (people flagged as possibly banned only with includeFlagged).
   * @param {{includeFlagged?: boolean}} [options]
   * @returns {Promise<{admitted: number[]}>}
   */
  admitAll({ includeFlagged = false } = {}) {
    return /** @type {any} */ (this.request('participant:admit_all', includeFlagged ? { include_flagged: true } : {}));
  }

  /**
   * Remove someone from the session (a reason is required).
   * @param {number} participantId
   * @param {string} reason
   * @param {{version?: number}} [options]
   * @returns {Promise<{participant: Admission}>}
   */
  removeParticipant(participantId, reason, { version } = {}) {
    /** @type {Record<string, unknown>} */
    const body = { participant_id: participantId, reason };
    if (version !== undefined) body.version = version;
    return /** @type {any} */ (this.request('participant:remove', body));
  }

  /**
   * Ban someone from the event: their link stops working everywhere (a reason is required).
   * @param {number} participantId
   * @param {string} reason
   * @returns {Promise<{ban: Ban}>}
   */
  banParticipant(participantId, reason) {
    return /** @type {any} */ (this.request('participant:ban', { participant_id: participantId, reason }));
  }

  /**
   * Lift a ban: the same link works again (through the waiting room).
   * @param {number} participantId
   * @param {string} [reason]
   * @returns {Promise<{ban: Ban}>}
   */
  unbanParticipant(participantId, reason) {
    /** @type {Record<string, unknown>} */
    const body = { participant_id: participantId };
    if (reason) body.reason = reason;
    return /** @type {any} */ (this.request('participant:unban', body));
  }

  /**
   * Mute or unmute someone's microphone and/or camera (admin, moderator, chair, AV).
   * @param {number} participantId
   * @param {{audio?: boolean, video?: boolean, reason?: string}} change   true mutes, false unmutes
   * @returns {Promise<{participant: Admission}>}
   */
  muteParticipant(participantId, { audio, video, reason }) {
    /** @type {Record<string, unknown>} */
    const body = { participant_id: participantId };
    if (audio !== undefined) body.audio = audio;
    if (video !== undefined) body.video = video;
    if (reason) body.reason = reason;
    return /** @type {any} */ (this.request('participant:mute', body));
  }

  /**
   * The session's moderation record as a CSV or JSON file (admin, moderator).
   * @param {'csv' | 'json'} format
   * @returns {Promise<{blob: Blob, filename: string}>}
   */
  exportModeration(format) {
    return exportModeration(this.#sessionId, format, this.#token, { baseUrl: this.#baseUrl });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Moderating participants: types and the record's export (issue 6)

/**
 * @typedef {object} WaitingMessage   `waiting`: held until a moderator admits
 * @property {Me} me
 * @property {Session} session
 * @property {HemicycleEvent} event
 * @property {string} message
 */
/** @typedef {{session_id: number, reason: string, banned: boolean, by: Actor}} RemovedMessage */
/** @typedef {{session_id: number, audio: boolean, video: boolean, reason: string, by: Actor}} MutedMessage */
/**
 * @typedef {Participant & {state: 'waiting' | 'left' | 'admitted' | 'removed', version: number,
 *   flags: {possibly_banned?: {ban_id: number, match: 'browser' | 'address'}, removed_before?: boolean},
 *   reason: string | null, waiting_since: string | null, decided_at: string | null,
 *   muted: {audio: boolean, video: boolean}}} Admission
 */
/** @typedef {{id: number, participant: Participant, reason: string, at: string, by: number | null}} Ban */
/**
 * @typedef {object} ModerationAction   one line of the moderation record
 * @property {number} id
 * @property {string} at
 * @property {Actor} actor
 * @property {string} action
 * @property {string} target
 * @property {{id: number | null, name: string | null}} whom
 * @property {string} reason
 * @property {Record<string, unknown>} details
 */
/**
 * @typedef {object} ModerationState   `moderation` (admins and moderators)
 * @property {number} session_id
 * @property {number} version
 * @property {boolean} waiting_room              in effect
 * @property {boolean | null} waiting_room_setting   the session's own (null: the server default)
 * @property {{stakeholder_groups: string[], affiliations: string[]}} rules
 * @property {Admission[]} waiting
 * @property {Admission[]} removed
 * @property {Admission[]} muted
 * @property {Ban[]} bans
 * @property {ModerationAction[]} audit   the latest 50, newest first
 */

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

/**
 * The session's moderation record, as a file (admin, moderator); the token goes in the Authorization header.
 * @param {number | string} sessionId
 * @param {'csv' | 'json'} format
 * @param {string} token
 * @param {{baseUrl?: string}} [options]
 * @returns {Promise<{blob: Blob, filename: string}>}
 */
export function exportModeration(sessionId, format, token, { baseUrl = '' } = {}) {
  return fetchFile(`/api/sessions/${seg(sessionId)}/moderation?format=${encodeURIComponent(format)}`,
    format === 'csv' ? 'text/csv' : 'application/json', token, `session-${sessionId}-moderation.${format}`, baseUrl);
}

/**
 * @param {unknown} value
 * @returns {value is CaptionLine}
 */
function isCaption(value) {
  const line = /** @type {any} */ (value);
  return !!line && typeof line === 'object' && typeof line.seq === 'number' && typeof line.text === 'string'
    && typeof line.language === 'string';
}
