// @ts-check
/**
 * Moderating participants (server/moderation.py, signaling/moderation_events.py, docs/protocol.md
 * "Moderating participants"): the waiting room, remove, ban, unban, mute. Events dispatched:
 *   waiting              WaitingMessage                  held in the waiting room (connection: "waiting")
 *   moderation:admitted  {session_id}                    admitted: the `welcome` follows
 *   moderation:removed   RemovedMessage                  removed or banned: the server closes the connection
 *   moderation:muted     MutedMessage                    a moderator muted or unmuted my microphone or camera
 *   moderation           {moderation, previous}          the moderation state (admins and moderators)
 */

import { fetchFile, seg } from './http.js';

/** @typedef {import('../protocol-types.js').Waiting} WaitingMessage */
/** @typedef {import('../protocol-types.js').Removed} RemovedMessage */
/** @typedef {import('../protocol-types.js').MutedNotice} MutedMessage */
/** @typedef {import('../protocol-types.js').Admission} Admission */
/** @typedef {import('../protocol-types.js').Ban} Ban */
/** @typedef {import('../protocol-types.js').ModerationAction} ModerationAction */
/** @typedef {import('../protocol-types.js').ModerationState} ModerationState */

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
 * Moderating participants, added to a client class.
 * @template {new (...args: any[]) => import('./core.js').ClientCore} Base
 * @param {Base} Base
 */
export const withModeration = (Base) => class extends Base {
  /** @type {WaitingMessage | null} */ #waiting = null;
  /** @type {RemovedMessage | null} */ #removal = null;
  /** @type {MutedMessage | null} */ #muted = null;
  /** @type {ModerationState | null} */ #moderationState = null;

  /** While held in the waiting room: what the server said; null once admitted. */
  get waiting() { return this.#waiting; }
  /** Why this participant was removed or banned (the connection then closes); null otherwise. */
  get removal() { return this.#removal; }
  /** My microphone and camera as the moderators last set them (null: never muted). */
  get muted() { return this.#muted; }
  /** Waiting list, removed, muted and banned people, rules and the latest actions (moderators only). */
  get moderationState() { return this.#moderationState; }

  /** @param {import('../protocol-types.js').Welcome} payload */
  _welcome(payload) {
    super._welcome(payload);
    this.#waiting = null;
  }

  /** @param {any} socket */
  _listen(socket) {
    super._listen(socket);
    socket.on('waiting', (/** @type {WaitingMessage} */ payload) => {
      if (!payload || !payload.session || !this._isOurs(payload.session.id)) return;
      this.#waiting = payload;
      this.#removal = null;
      this._wait(payload);
      this._notify('waiting', payload);
    });
    socket.on('moderation:admitted', (/** @type {{session_id: number}} */ payload) => {
      if (payload && this._isOurs(payload.session_id)) this._notify('moderation:admitted', payload);
    });
    socket.on('moderation:removed', (/** @type {RemovedMessage} */ payload) => {
      if (!payload || !this._isOurs(payload.session_id)) return;
      this.#removal = payload;
      this._notify('moderation:removed', payload);
    });
    socket.on('moderation:muted', (/** @type {MutedMessage} */ payload) => {
      if (!payload || !this._isOurs(payload.session_id)) return;
      this.#muted = payload;
      this._notify('moderation:muted', payload);
    });
    socket.on('moderation', (/** @type {ModerationState} */ payload) => this.#applyModerationState(payload));
  }

  /** @param {unknown} state */
  #applyModerationState(state) {
    if (!this._newer(this.#moderationState, state)) return;
    const previous = this.#moderationState;
    this.#moderationState = /** @type {ModerationState} */ (state);
    this._notify('moderation', { moderation: state, previous });
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
    return exportModeration(this.sessionId, format, this.token, { baseUrl: this.baseUrl });
  }
};
