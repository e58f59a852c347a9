// @ts-check
/**
 * The speakers' queue and the floor (server/floor.py, docs/protocol.md "The speakers' queue and the floor"):
 * who speaks, the countdown and the next two (`floor`, everyone), my own request and place in line
 * (`queue:mine`, with each `queue:line`), and for floor staff the whole queue (`queue`).
 *
 * Queue updates carry the session's queue `version`; several server processes may deliver them in either
 * order, so the client keeps, for each of `floor`, `mine` and `queue`, only an update newer than the one it
 * holds (a `welcome` always resets them: it is a fresh read). `floorReceivedAt`, `mineReceivedAt` and
 * `queueReceivedAt` give the local time each was received, for the countdown (js/timer.js).
 */

import { isVersioned } from './core.js';

/** @typedef {import('../protocol-types.js').Floor} Floor */
/** @typedef {import('../protocol-types.js').Line} QueueLine */
/** @typedef {import('../protocol-types.js').Mine} Mine */
/** @typedef {import('../protocol-types.js').LastRequest} MineLast */
/** @typedef {import('../protocol-types.js').Queue} Queue */
/** @typedef {import('../protocol-types.js').QueueConfig} QueueConfig */
/** @typedef {import('../protocol-types.js').Entry} Entry */
/** @typedef {import('../protocol-types.js').StaffEntry} StaffEntry */
/** @typedef {import('../protocol-types.js').Timer} Timer */
/** @typedef {import('../protocol-types.js').QueueAddInRoom} InRoomRequest */
/** @typedef {'statement' | 'question' | 'right_of_reply' | 'point_of_order'} InterventionType */
/** @typedef {'finished' | 'revoked' | 'time_up' | 'disconnected' | 'replaced'} EndReason */

/**
 * The queue and the floor, added to a client class.
 * @template {new (...args: any[]) => import('./core.js').ClientCore} Base
 * @param {Base} Base
 */
export const withQueue = (Base) => class extends Base {
  /** @type {Floor | null} */ #floor = null;
  /** @type {Mine | null} */ #mine = null;
  /** @type {QueueLine | null} */ #line = null;
  /** @type {Queue | null} */ #queue = null;
  /** Local Date.now() when each was received (the countdown corrects the clock from it). */
  #floorAt = 0;
  #mineAt = 0;
  #queueAt = 0;

  /** Who speaks, the countdown and the next two in line (everyone). */
  get floor() { return this.#floor; }
  /** My own request and place in line, or my turn (everyone; attendees use it). */
  get mine() { return this.#mine; }
  /** The whole queue, record, balance and suggestion: floor staff only; null for the others. */
  get queue() { return this.#queue; }
  get floorReceivedAt() { return this.#floorAt; }
  get mineReceivedAt() { return this.#mineAt; }
  get queueReceivedAt() { return this.#queueAt; }

  /** @param {any} socket */
  _listen(socket) {
    super._listen(socket);
    socket.on('floor', (/** @type {Floor} */ payload) => this.#applyFloor(payload));
    socket.on('queue:mine', (/** @type {Mine} */ payload) => this.#applyMine(payload));
    socket.on('queue:line', (/** @type {QueueLine} */ payload) => this.#applyLine(payload));
    socket.on('queue', (/** @type {Queue} */ payload) => this.#applyQueue(payload));
  }

  /** @param {import('../protocol-types.js').Welcome} payload */
  _welcome(payload) {
    super._welcome(payload);
    // A welcome is a fresh read: it replaces whatever was held, whatever its version.
    this.#floor = isVersioned(payload.floor) ? payload.floor : null;
    this.#mine = isVersioned(payload.mine) ? payload.mine : null;
    this.#line = null; // the welcome's `mine` has my place; the next line moves it
    this.#queue = isVersioned(payload.queue) ? payload.queue : null;
    this.#floorAt = this.#mineAt = this.#queueAt = Date.now();
  }

  /** @param {unknown} floor */
  #applyFloor(floor) {
    if (!this._newer(this.#floor, floor)) return;
    const previous = this.#floor;
    this.#floor = /** @type {Floor} */ (floor);
    this.#floorAt = Date.now();
    this._notify('floor', { floor, previous });
  }

  /** @param {unknown} line */
  #applyLine(line) {
    if (!this._newer(this.#line, line) || !Array.isArray(/** @type {any} */ (line).order)) return;
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
    this._notify('queue:mine', { mine: this.#mine, previous });
  }

  /** @param {unknown} mine */
  #applyMine(mine) {
    if (!this._newer(this.#mine, mine)) return;
    const previous = this.#mine;
    this.#mine = /** @type {Mine} */ (mine);
    this.#mineAt = Date.now();
    this._notify('queue:mine', { mine, previous });
    // A line newer than this own update may already be here: my place is the one in its order.
    if (this.#line) this.#placeFromLine(this.#line);
  }

  /** @param {unknown} queue */
  #applyQueue(queue) {
    if (!this._newer(this.#queue, queue)) return;
    const previous = this.#queue;
    this.#queue = /** @type {Queue} */ (queue);
    this.#queueAt = Date.now();
    this._notify('queue', { queue, previous });
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
   * @returns {Promise<{settings: QueueConfig}>}
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
};
