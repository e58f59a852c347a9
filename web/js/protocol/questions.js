// @ts-check
/**
 * Questions (server/desk.py, docs/protocol.md "Questions"): the approved questions and the one read aloud
 * (everyone), my own questions and votes, and for staff every question with its asker and history.
 *
 * Questions are ordered by the session's questions `version`: `myQuestions` keeps only a newer update. The
 * approved questions (`questions`) and, for staff, every question (`moderation`) come whole only in the
 * welcome and on a re-read (`questions:get`); after that the server sends what changed (`questions:changed`,
 * `questions:staff_changed`), and this client applies it (QuestionLedger): each question's content and its
 * votes are taken only from an update at least as new as the one they came from, and a delta that shows one
 * was missed brings a re-read.
 */

import { isVersioned } from './core.js';
import { fetchFile, seg } from './http.js';

/** @typedef {import('../protocol-types.js').PublicQuestion} PublicQuestion */
/** @typedef {import('../protocol-types.js').OwnQuestion} OwnQuestion */
/** @typedef {import('../protocol-types.js').StaffQuestion} StaffQuestion */
/** @typedef {import('../protocol-types.js').Edit} QuestionEditRecord */
/** @typedef {import('../protocol-types.js').PublicQuestions} PublicQuestions */
/** @typedef {import('../protocol-types.js').QuestionsChanged} QuestionsChanged */
/** @typedef {import('../protocol-types.js').StaffQuestions} StaffQuestions */
/** @typedef {import('../protocol-types.js').StaffQuestionsChanged} StaffQuestionsChanged */
/** @typedef {import('../protocol-types.js').MyQuestions} MyQuestions */
/** @typedef {import('../protocol-types.js').QuestionCounts} QuestionCounts */
/** @typedef {import('../protocol-types.js').QuestionPost} QuestionRequest */
/** @typedef {import('../protocol-types.js').VoteReply} VoteResult */
/** @typedef {'approve' | 'dismiss' | 'star' | 'unstar'} QuestionDecision */

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
 * Questions, added to a client class.
 * @template {new (...args: any[]) => import('./core.js').ClientCore} Base
 * @param {Base} Base
 */
export const withQuestions = (Base) => class extends Base {
  /** @type {PublicQuestions | null} */ #questions = null;
  /** The approved questions and (staff) every question, kept from whole lists and deltas. */
  #publicLedger = new QuestionLedger(['premoderated', 'max_chars', 'reading_id']);
  #staffLedger = new QuestionLedger(['premoderated', 'max_chars', 'counts']);
  /** @type {'idle' | 'running' | 'again'} */ #questionsResync = 'idle';
  /** @type {MyQuestions | null} */ #myQuestions = null;
  /** @type {StaffQuestions | null} */ #staffQuestions = null;

  /** Approved questions, the one being read aloud, the settings posting needs (everyone). */
  get questions() { return this.#questions; }
  /** My own questions in any state, and what I voted for. */
  get myQuestions() { return this.#myQuestions; }
  /** Every question with its asker and history, and the counts: staff only; null for the others. */
  get moderation() { return this.#staffQuestions; }

  /** @param {any} socket */
  _listen(socket) {
    super._listen(socket);
    socket.on('questions:changed', (/** @type {QuestionsChanged} */ payload) => this.#applyQuestionsChanged(payload));
    socket.on('questions:mine', (/** @type {MyQuestions} */ payload) => this.#applyMyQuestions(payload));
    socket.on('questions:staff_changed', (/** @type {StaffQuestionsChanged} */ payload) => this.#applyStaffChanged(payload));
  }

  /** @param {import('../protocol-types.js').Welcome} payload */
  _welcome(payload) {
    super._welcome(payload);
    this.#takeQuestionList(payload.questions, true);
    this.#takeStaffList(payload.moderation, true);
    this.#myQuestions = isVersioned(payload.my_questions) ? payload.my_questions : null;
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
        || !this._isOurs(/** @type {any} */ (list).session_id)) {
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
  #takeStaffList(list, fresh) {
    const ledger = this.#staffLedger;
    if (!isVersioned(list) || !Array.isArray(/** @type {any} */ (list).questions)
        || !this._isOurs(/** @type {any} */ (list).session_id)) {
      if (fresh) ledger.clear();
      if (fresh) this.#staffQuestions = null;
      return;
    }
    const full = /** @type {StaffQuestions} */ (list);
    const { questions, ...rest } = full;
    ledger.takeList(questions, full.version, rest, fresh);
    this.#showStaffQuestions(!fresh);
  }

  /**
   * What changed among the approved questions, from one server process.
   * @param {unknown} payload
   */
  #applyQuestionsChanged(payload) {
    const delta = /** @type {QuestionsChanged} */ (payload);
    if (!this.#publicLedger.ready || !isVersioned(delta) || !this._isOurs(delta.session_id)) return;
    const missed = this.#publicLedger.takeDelta(delta);
    if (missed === null) return;
    this.#showQuestions(true);
    if (missed) this.#resyncQuestions();
  }

  /**
   * What changed among all the questions, for staff, from one server process.
   * @param {unknown} payload
   */
  #applyStaffChanged(payload) {
    const delta = /** @type {StaffQuestionsChanged} */ (payload);
    if (!this.#staffLedger.ready || !isVersioned(delta) || !this._isOurs(delta.session_id)) return;
    const missed = this.#staffLedger.takeDelta(delta);
    if (missed === null) return;
    this.#showStaffQuestions(true);
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
    if (dispatch) this._notify('questions:public', { questions: this.#questions, previous });
  }

  /** Rebuild the staff's list (`moderation`, as the wire names it) from its ledger; dispatch `questions` unless it is the welcome's. */
  #showStaffQuestions(/** @type {boolean} */ dispatch) {
    const ledger = this.#staffLedger;
    const previous = this.#staffQuestions;
    this.#staffQuestions = /** @type {StaffQuestions} */ ({
      ...ledger.meta, session_id: ledger.sessionId, version: ledger.version, questions: ledger.list(),
    });
    if (dispatch) this._notify('questions', { moderation: this.#staffQuestions, previous });
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
    if (!this._newer(this.#myQuestions, mine)) return;
    const previous = this.#myQuestions;
    this.#myQuestions = /** @type {MyQuestions} */ (mine);
    this._notify('questions:mine', { mine, previous });
  }

  // --- questions ---------------------------------------------------------------------------------------
  // Each resolves with the ack's data and rejects with a ProtocolError; the views themselves arrive with the
  // `questions:changed`, `questions:mine` and `questions` broadcasts that follow (a first one ~100 ms after a
  // change, then at most four a second).

  /** Fresh questions, mine and (for staff) every question. */
  async refreshQuestions() {
    const data = await this.request('questions:get', {});
    this.#takeQuestionList(data.questions, false);
    if (data.moderation) this.#takeStaffList(data.moderation, false);
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
   * @param {QuestionDecision} action
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

  /**
   * The session's questions as a CSV or JSON file (admin, moderator).
   * @param {'csv' | 'json'} format
   * @returns {Promise<{blob: Blob, filename: string}>}
   */
  exportQuestions(format) {
    return exportQuestions(this.sessionId, format, this.token, { baseUrl: this.baseUrl });
  }
};
