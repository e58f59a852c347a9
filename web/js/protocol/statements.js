// @ts-check
/**
 * Statements sent in advance (server/statements.py, docs/protocol.md "Statements in advance"): a speaker, or
 * floor staff for them, attaches the text of a statement to a request (over HTTP, the file as the body); those
 * who may read statements (booths, captioner, moderators) hold the session's list, read again after every
 * welcome (`statements:get`) and kept from `statement:attached`, and open one over HTTP.
 */

import { ProtocolError } from './errors.js';
import { fetchFile, seg } from './http.js';

/** @typedef {import('../protocol-types.js').StatementView} StatementView */

/** The permission that lets a role read statements (and receive their notices). */
export const STATEMENT_READ = 'statement.read';

/**
 * @param {unknown} value
 * @returns {value is StatementView}
 */
function isStatement(value) {
  const s = /** @type {any} */ (value);
  return !!s && typeof s === 'object' && typeof s.entry_id === 'number' && typeof s.kind === 'string';
}

/**
 * Send a statement for a request. Resolves with what the server stored; rejects with a ProtocolError
 * (`statement_too_large`, `statement_type`, `statement_malformed`, `not_yours`, `not_in_line`...).
 * @param {number | string} sessionId
 * @param {number} entryId
 * @param {Blob} file
 * @param {string} name
 * @param {string} token
 * @param {string} [baseUrl]
 * @returns {Promise<StatementView>}
 */
export async function uploadStatement(sessionId, entryId, file, name, token, baseUrl = '') {
  const query = new URLSearchParams({ name });
  /** @type {Response} */
  let response;
  try {
    response = await fetch(`${baseUrl}/api/sessions/${seg(sessionId)}/queue/${seg(entryId)}/statement?${query}`, {
      method: 'POST',
      // The server reads what the file is from its bytes; the type is only a courtesy.
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': file.type || 'application/octet-stream' },
      body: file,
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch {
    throw new ProtocolError('network', 'The server could not be reached. Check your connection and try again.');
  }
  /** @type {any} */
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok) {
    const error = payload && typeof payload === 'object' ? payload.error : null;
    if (error && typeof error.code === 'string') {
      throw new ProtocolError(error.code, String(error.message || error.code), {
        status: response.status, details: error.details,
      });
    }
    throw new ProtocolError(response.status >= 500 ? 'internal' : `http_${response.status}`,
      `The server answered ${response.status} ${response.statusText}`.trim(), { status: response.status });
  }
  if (!payload || !isStatement(payload.statement)) {
    throw new ProtocolError('bad_response', 'The server sent an answer this page does not understand.');
  }
  return payload.statement;
}

/**
 * Statements, added to a client class.
 * @template {new (...args: any[]) => import('./core.js').ClientCore} Base
 * @param {Base} Base
 */
export const withStatements = (Base) => class extends Base {
  /** @type {Map<number, StatementView>} by request id */ #statements = new Map();
  /** @type {number | null} */ #maxBytes = null;

  /** The session's statements by request id (those who may read them; empty for anyone else). */
  get statements() { return this.#statements; }

  /** The largest statement the server takes, once known (null before the first list). */
  get statementMaxBytes() { return this.#maxBytes; }

  /** @param {any} socket */
  _listen(socket) {
    super._listen(socket);
    socket.on('statement:attached', (/** @type {StatementView} */ statement) => this.#take(statement));
  }

  /** @param {import('../protocol-types.js').Welcome} payload */
  _welcome(payload) {
    super._welcome(payload);
    // Not in the welcome: read once connected, after every welcome (a reconnect, a restart, another process).
    queueMicrotask(() => {
      if (this.can(STATEMENT_READ)) this.refreshStatements().catch(() => {});
    });
  }

  /** @param {unknown} statement */
  #take(statement) {
    if (!isStatement(statement) || !this._isOurs(statement.session_id)) return;
    this.#statements.set(statement.entry_id, statement);
    this._notify('statements', { statement });
  }

  /** Read the session's statements again (those who may read them). */
  async refreshStatements() {
    const data = await this.request('statements:get', {});
    this.#statements = new Map((data.statements ?? []).filter(isStatement)
      .map((/** @type {StatementView} */ s) => [s.entry_id, s]));
    this.#maxBytes = typeof data.max_bytes === 'number' ? data.max_bytes : null;
    this._notify('statements', { statement: null });
  }

  /**
   * Attach a statement to a request: my own (attendees), or anyone's (floor staff).
   * @param {number} entryId
   * @param {File | Blob} file
   * @param {string} [name]
   * @returns {Promise<StatementView>}
   */
  async attachStatement(entryId, file, name) {
    const filename = name ?? (/** @type {File} */ (file).name || 'statement');
    const statement = await uploadStatement(this.sessionId, entryId, file, filename, this.token, this.baseUrl);
    if (this.can(STATEMENT_READ)) this.#take(statement);
    else this._notify('statements', { statement });
    return statement;
  }

  /**
   * A statement's file, to open or save (those who may read them).
   * @param {number} entryId
   * @returns {Promise<{blob: Blob, filename: string}>}
   */
  openStatement(entryId) {
    const known = this.#statements.get(entryId);
    return fetchFile(`/api/sessions/${seg(this.sessionId)}/queue/${seg(entryId)}/statement`,
      known?.kind === 'pdf' ? 'application/pdf' : 'text/plain', this.token, known?.name ?? 'statement',
      this.baseUrl);
  }
};
