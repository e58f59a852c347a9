// @ts-check
/**
 * The help desk (server/helpdesk.py, docs/protocol.md "Help desk"): an attendee's own help requests, and
 * for AV technicians and moderators the queue of requests not yet closed, with the link figures each page
 * attached. Both are read again after every welcome (`help:get`), then kept from `help:mine` / `help:staff`.
 */

/** @typedef {import('../protocol-types.js').HelpThreadMine} HelpThreadMine */
/** @typedef {import('../protocol-types.js').HelpThreadStaff} HelpThreadStaff */
/** @typedef {import('../protocol-types.js').HelpFigures} HelpFigures */

/** The categories, in the order a page offers them. */
export const HELP_CATEGORIES = Object.freeze(['no_sound', 'no_picture', 'microphone', 'other']);
/** The prepared answers staff may send, each in the six languages (sent in the attendee's page language). */
export const HELP_ANSWERS = Object.freeze(['looking', 'check_channel', 'reload', 'microphone', 'fixed']);
/** The longest message the server takes, once cleaned. */
export const HELP_MAX_CHARS = 1000;

/**
 * @param {unknown} value
 * @returns {value is HelpThreadMine}
 */
function isThread(value) {
  const thread = /** @type {any} */ (value);
  return !!thread && typeof thread === 'object' && typeof thread.id === 'number'
    && typeof thread.state === 'string' && Array.isArray(thread.messages);
}

/**
 * The browser's name and version, from the user agent (what staff need to reproduce a problem).
 * @param {string} agent
 * @returns {{browser?: string, browser_version?: string}}
 */
export function browserOf(agent) {
  const known = [['Edg', 'Edge'], ['OPR', 'Opera'], ['Firefox', 'Firefox'], ['Chrome', 'Chrome'],
    ['Version', 'Safari']];
  for (const [token, name] of known) {
    const found = new RegExp(`${token}/([\\d.]+)`).exec(agent);
    if (found) return { browser: name, browser_version: found[1].slice(0, 24) };
  }
  return {};
}

/**
 * The help desk, added to a client class.
 * @template {new (...args: any[]) => import('./core.js').ClientCore} Base
 * @param {Base} Base
 */
export const withHelp = (Base) => class extends Base {
  /** @type {Map<number, HelpThreadMine>} */ #mine = new Map();
  /** @type {Map<number, HelpThreadStaff>} */ #queue = new Map();

  /** My own help requests, oldest first (closed ones included: the last answer stays readable). */
  get helpMine() { return [...this.#mine.values()].sort((a, b) => a.id - b.id); }

  /** My request not yet closed, if any (one at a time). */
  get helpOpen() { return this.helpMine.find((thread) => thread.state !== 'closed') ?? null; }

  /** The requests not yet closed, oldest first, with their figures (AV technicians, moderators). */
  get helpQueue() { return [...this.#queue.values()].sort((a, b) => a.id - b.id); }

  /** @param {any} socket */
  _listen(socket) {
    super._listen(socket);
    socket.on('help:mine', (/** @type {HelpThreadMine} */ thread) => this.#takeMine(thread));
    socket.on('help:staff', (/** @type {HelpThreadStaff} */ thread) => this.#takeStaff(thread));
  }

  /** @param {import('../protocol-types.js').Welcome} payload */
  _welcome(payload) {
    super._welcome(payload);
    // Threads are not in the welcome: read them once the connection counts as connected (just after this),
    // after every welcome (a reconnect, a restart, another process).
    queueMicrotask(() => { this.refreshHelp().catch(() => {}); });
  }

  /** @param {unknown} thread */
  #takeMine(thread) {
    if (!isThread(thread) || !this._isOurs(thread.session_id)) return;
    this.#mine.set(thread.id, thread);
    this._notify('help', { mine: this.helpMine, queue: this.helpQueue });
  }

  /** @param {unknown} thread */
  #takeStaff(thread) {
    if (!isThread(thread) || !this._isOurs(thread.session_id)) return;
    if (thread.state === 'closed') this.#queue.delete(thread.id);
    else this.#queue.set(thread.id, /** @type {HelpThreadStaff} */ (thread));
    this._notify('help', { mine: this.helpMine, queue: this.helpQueue });
  }

  /** Read my requests (and, for staff, the queue) again. */
  async refreshHelp() {
    const data = await this.request('help:get', {});
    this.#mine = new Map((data.mine ?? []).filter(isThread).map((/** @type {HelpThreadMine} */ t) => [t.id, t]));
    if (Array.isArray(data.queue)) {
      this.#queue = new Map(data.queue.filter(isThread).map((/** @type {HelpThreadStaff} */ t) => [t.id, t]));
    }
    this._notify('help', { mine: this.helpMine, queue: this.helpQueue });
  }

  /**
   * Open a request (attendees). Rejects with a ProtocolError (`help_already_open`, `invalid_input`,
   * `rate_limited`...).
   * @param {{category: string, language: string, text?: string, figures?: HelpFigures}} request
   * @returns {Promise<HelpThreadMine>}
   */
  async openHelp({ category, language, text = '', figures }) {
    const data = await this.request('help:open', { category, language, text, ...(figures ? { figures } : {}) });
    this.#takeMine(data.thread);
    return data.thread;
  }

  /**
   * Write again in my own request, until staff close it.
   * @param {number} threadId
   * @param {string} text
   */
  async writeHelp(threadId, text) {
    const data = await this.request('help:message', { thread_id: threadId, text });
    this.#takeMine(data.thread);
    return data.thread;
  }

  /**
   * Answer a request (AV technicians, moderators): free text, or a prepared answer's key.
   * @param {number} threadId
   * @param {{text?: string, answer?: string}} reply
   */
  async answerHelp(threadId, { text, answer }) {
    const data = await this.request('help:reply', { thread_id: threadId, ...(answer ? { answer } : { text }) });
    this.#takeStaff(data.thread);
    return data.thread;
  }

  /** Close a request (AV technicians, moderators). @param {number} threadId */
  async closeHelp(threadId) {
    const data = await this.request('help:close', { thread_id: threadId });
    this.#takeStaff(data.thread);
    return data.thread;
  }
};
