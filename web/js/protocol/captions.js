// @ts-check
/**
 * Live captions (server/captions.py, docs/protocol.md "Live captions"): the lines received (the recent ones
 * from the welcome, then each `caption`), kept by `seq`, and posting a line (captioner, admin).
 */

import { fetchFile, seg } from './http.js';

/** @typedef {import('../protocol-types.js').CaptionLine} CaptionLine */
/** @typedef {import('../protocol-types.js').RecentCaptions} RecentCaptions */

/** The caption channels: the floor (what is said in the room) and the six UN languages. */
export const CAPTION_LANGUAGES = Object.freeze(['floor', 'ar', 'zh', 'en', 'fr', 'ru', 'es']);
/** The longest line the server takes, once cleaned. */
export const CAPTION_MAX_CHARS = 500;
// How many lines the client keeps (the page shows fewer; the transcript is the server's).
const CAPTIONS_KEPT = 500;

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
 * @param {unknown} value
 * @returns {value is CaptionLine}
 */
function isCaption(value) {
  const line = /** @type {any} */ (value);
  return !!line && typeof line === 'object' && typeof line.seq === 'number' && typeof line.text === 'string'
    && typeof line.language === 'string';
}

/**
 * Live captions, added to a client class.
 * @template {new (...args: any[]) => import('./core.js').ClientCore} Base
 * @param {Base} Base
 */
export const withCaptions = (Base) => class extends Base {
  /** @type {CaptionLine[]} */ #captions = [];

  /** Caption lines received (recent ones from the welcome, then each new one), every language, by `seq`. */
  get captions() { return this.#captions; }

  /** @param {any} socket */
  _listen(socket) {
    super._listen(socket);
    socket.on('caption', (/** @type {CaptionLine} */ payload) => this.#applyCaption(payload));
  }

  /** @param {import('../protocol-types.js').Welcome} payload */
  _welcome(payload) {
    super._welcome(payload);
    this.#takeRecentCaptions(payload.captions);
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
    if (!isCaption(line) || !this._isOurs(line.session_id)) return false;
    if (this.#captions.some((held) => held.seq === line.seq)) return false;
    this.#captions = [...this.#captions, line].sort((a, b) => a.seq - b.seq).slice(-CAPTIONS_KEPT);
    this._notify('caption', { caption: line });
    return true;
  }

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
    return exportTranscript(this.sessionId, format, this.token, { language, baseUrl: this.baseUrl });
  }
};
