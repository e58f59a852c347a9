// @ts-check
/**
 * Live polls (server/polls.py, docs/protocol.md "Live polls"): the polls the room sees (opened ones, with
 * their results while the moderator shows them), every poll with live results for staff, my own answers; and
 * the requests: prepare, edit, delete, open, close, show or hide results (moderator), answer (attendee).
 *
 * The state is read with `polls:get` after each welcome, then follows `polls:changed` (everyone) and
 * `polls:staff_changed` (staff), each a whole list ordered by `version`.
 */

/** @typedef {import('../protocol-types.js').PollList} PollList */
/** @typedef {import('../protocol-types.js').PollWithResults} PollWithResults */
/** @typedef {import('../protocol-types.js').PollView} PollView */
/** @typedef {import('../protocol-types.js').MyAnswer} MyAnswer */

/** The kinds of poll, and the limits the server applies (server/domain/polls.py). */
export const POLL_KINDS = Object.freeze(['single', 'multiple', 'rating', 'text']);
export const POLL_TEXT_MAX_CHARS = 80;
export const POLL_QUESTION_MAX_CHARS = 300;
export const POLL_OPTION_MAX_CHARS = 120;
export const POLL_MAX_OPTIONS = 10;

/**
 * Live polls, added to a client class.
 * @template {new (...args: any[]) => import('./core.js').ClientCore} Base
 * @param {Base} Base
 */
export const withPolls = (Base) => class extends Base {
  /** @type {PollList | null} */ #polls = null;
  /** @type {PollList | null} */ #staffPolls = null;
  /** @type {Map<number, MyAnswer>} */ #answers = new Map();

  /** The polls the room sees: opened ones, results only while shown. */
  get polls() { return this.#polls?.polls ?? []; }
  /** Every poll, drafts too, with live results (staff); null for other roles. */
  get staffPolls() { return this.#staffPolls?.polls ?? null; }
  /** My answer to a poll, if I gave one. @param {number} pollId */
  answerTo(pollId) { return this.#answers.get(pollId) ?? null; }

  /** @param {any} socket */
  _listen(socket) {
    super._listen(socket);
    socket.on('polls:changed', (/** @type {PollList} */ payload) => this.#take(payload, false));
    socket.on('polls:staff_changed', (/** @type {PollList} */ payload) => this.#take(payload, true));
  }

  /** @param {import('../protocol-types.js').Welcome} payload */
  _welcome(payload) {
    super._welcome(payload);
    // The polls are not part of the welcome: read once connected (a fresh read after each reconnection).
    queueMicrotask(() => { this.refreshPolls().catch(() => {}); });
  }

  /**
   * @param {unknown} list
   * @param {boolean} staff
   * @param {boolean} [fresh]  a read: taken whatever its version
   */
  #take(list, staff, fresh = false) {
    const held = staff ? this.#staffPolls : this.#polls;
    if (!(fresh ? this._newer(null, list) : this._newer(held, list))) return;
    if (staff) this.#staffPolls = /** @type {PollList} */ (list);
    else this.#polls = /** @type {PollList} */ (list);
    this._notify('polls', { staff });
  }

  /** The polls again, and my answers. @returns {Promise<void>} */
  async refreshPolls() {
    const data = await this.request('polls:get', {});
    this.#answers = new Map((data.mine ?? []).map((/** @type {MyAnswer} */ a) => [a.poll_id, a]));
    this.#take(data.polls, false, true);
    if (data.staff) this.#take(data.staff, true, true);
  }

  /**
   * Prepare a poll (a draft). @param {{kind: string, question: string, options?: string[]}} poll
   * @returns {Promise<PollView>}
   */
  async createPoll({ kind, question, options = [] }) {
    return (await this.request('poll:create', { kind, question, options })).poll;
  }

  /**
   * Change a draft. @param {number} pollId @param {{kind: string, question: string, options?: string[]}} poll
   * @returns {Promise<PollView>}
   */
  async editPoll(pollId, { kind, question, options = [] }) {
    return (await this.request('poll:edit', { poll_id: pollId, kind, question, options })).poll;
  }

  /** @param {number} pollId @returns {Promise<PollView>} */
  async deletePoll(pollId) { return (await this.request('poll:delete', { poll_id: pollId })).poll; }
  /** @param {number} pollId @returns {Promise<PollView>} */
  async openPoll(pollId) { return (await this.request('poll:open', { poll_id: pollId })).poll; }
  /** @param {number} pollId @returns {Promise<PollView>} */
  async closePoll(pollId) { return (await this.request('poll:close', { poll_id: pollId })).poll; }

  /** @param {number} pollId @param {boolean} shown @returns {Promise<PollView>} */
  async showPollResults(pollId, shown) {
    return (await this.request('poll:results', { poll_id: pollId, shown })).poll;
  }

  /**
   * Answer a poll (again, to change the answer while it is open): one field by its kind.
   * @param {number} pollId
   * @param {{choices?: number[], rating?: number, text?: string}} answer
   * @returns {Promise<MyAnswer>}
   */
  async answerPoll(pollId, answer) {
    const data = await this.request('poll:answer', { poll_id: pollId, ...answer });
    this.#answers.set(pollId, data.answer);
    this._notify('polls', { staff: false });
    return data.answer;
  }
};
