// @ts-check
/**
 * The captioner's page: live captions for one channel language — type a line and press Enter (Shift+Enter for
 * a new line in the box), or paste from a captioning tool, which sends one caption per line — and the running
 * transcript of that language, with times. Below, as on every staff page, who has the floor and the time
 * left, session state and who is connected (js/pages/console.js).
 *
 * Lines go out one at a time, in order; when the server says to slow down (a paste of more lines than the
 * burst it allows), the page waits and sends the rest. A line the server refuses, and every line after it,
 * goes back into the box with the reason, so nothing typed is lost.
 */

import { captionLanguageLabel, captionLanguages } from '../caption-ui.js';
import { t, tn } from '../i18n.js';
import { CAPTION_MAX_CHARS } from '../protocol/captions.js';
import { el, errorNode, fill, formatTime, saveBlob, showError } from '../ui.js';
import { startConsole } from './console.js';
import { StatementsPanel } from './booth-statements.js';

/** @typedef {import('../protocol.js').HemicycleClient} HemicycleClient */
/** @typedef {import('../protocol.js').CaptionLine} CaptionLine */

const TRANSCRIPT_SHOWN = 200;
const RETRY_MS = 1000;

class CaptionDesk {
  /**
   * @param {HemicycleClient} client
   * @param {HTMLElement} root
   */
  constructor(client, root) {
    this.client = client;
    /** @type {string[]} */ this.pending = [];
    this.sending = false;
    this.language = /** @type {HTMLSelectElement} */ (el('select', { id: 'caption-language', testid: 'caption-language' }));
    this.input = /** @type {HTMLTextAreaElement} */ (el('textarea', {
      id: 'caption-input', testid: 'caption-input', rows: '3', 'aria-describedby': 'caption-hint',
      autocomplete: 'off', spellcheck: 'true', dir: 'auto',
    }));
    this.send = /** @type {HTMLButtonElement} */ (el('button', { type: 'button', testid: 'caption-send' }, t('Send')));
    this.status = el('p', { class: 'muted', role: 'status', testid: 'caption-status' });
    this.error = errorNode();
    this.transcript = el('ol', { class: 'caption-transcript', testid: 'caption-transcript',
      'aria-labelledby': 'caption-transcript-heading', tabindex: '0', hidden: true });
    // The list scrolls, so it takes focus (keyboard scrolling); hidden while empty, so focus never lands on nothing.
    this.transcriptEmpty = el('p', { class: 'muted', testid: 'caption-transcript-empty' },
      t('Nothing sent in this language yet.'));
    this.vtt = el('button', { type: 'button', class: 'secondary', testid: 'transcript-vtt' }, t('Download WebVTT'));
    this.txt = el('button', { type: 'button', class: 'secondary', testid: 'transcript-txt' }, t('Download text'));

    const body = el('div', { class: 'panel-body' },
      el('p', {}, el('label', { for: 'caption-language' }, t('Caption language')), ' ', this.language),
      el('p', { class: 'field' }, el('label', { for: 'caption-input' }, t('Caption line')),
        this.input,
        el('span', { id: 'caption-hint', class: 'hint' },
          t('Enter sends the line; Shift+Enter starts a new line. Pasted text is sent one caption per line, '
            + 'each at most {max} characters.', { max: CAPTION_MAX_CHARS }))),
      el('p', { class: 'actions' }, this.send), this.error, this.status,
      el('h3', { id: 'caption-transcript-heading' }, t('Transcript in this language')),
      this.transcript, this.transcriptEmpty,
      el('p', { class: 'actions' }, this.vtt, ' ', this.txt));
    root.prepend(el('section', { class: 'panel panel-captions', id: 'captions-panel',
      'aria-labelledby': 'captions-heading' }, el('h2', { id: 'captions-heading' }, t('Live captions')), body));

    this.input.addEventListener('keydown', (event) => {
      // Enter while an input method composes (Chinese, Japanese...) picks a candidate: not a send.
      if (event.key !== 'Enter' || event.shiftKey || event.isComposing) return;
      event.preventDefault();
      this.#queue(this.input.value);
      this.input.value = '';
    });
    this.input.addEventListener('paste', (event) => {
      const pasted = event.clipboardData?.getData('text/plain') ?? '';
      if (!/[\r\n]/.test(pasted.trim())) return; // one line: pasted into the box like typing
      event.preventDefault();
      const { selectionStart: start, selectionEnd: end, value } = this.input;
      this.#queue(value.slice(0, start) + pasted + value.slice(end));
      this.input.value = '';
    });
    this.send.addEventListener('click', () => {
      this.#queue(this.input.value);
      this.input.value = '';
      this.input.focus();
    });
    this.language.addEventListener('change', () => this.render());
    this.vtt.addEventListener('click', () => this.#download('vtt'));
    this.txt.addEventListener('click', () => this.#download('txt'));

    client.on('welcome', () => {
      const current = this.language.value || 'floor';
      fill(this.language, captionLanguages(client.session?.languages ?? null).map((code) =>
        el('option', { value: code, selected: code === current }, captionLanguageLabel(code))));
      this.render();
    });
    client.on('caption', ({ caption }) => {
      if (caption.language === this.language.value) this.#append(caption);
    });
  }

  /** The transcript of the chosen language, from what the client holds. */
  render() {
    const lines = this.client.captions.filter((line) => line.language === this.language.value);
    fill(this.transcript, lines.slice(-TRANSCRIPT_SHOWN).map((line) => this.#item(line)));
    this.#shown();
  }

  #shown() {
    this.transcript.hidden = this.transcript.children.length === 0;
    this.transcriptEmpty.hidden = !this.transcript.hidden;
    this.transcript.scrollTop = this.transcript.scrollHeight;
  }

  /** @param {CaptionLine} line */
  #append(line) {
    this.transcript.append(this.#item(line));
    while (this.transcript.children.length > TRANSCRIPT_SHOWN) this.transcript.firstElementChild?.remove();
    this.#shown();
  }

  /** @param {CaptionLine} line */
  #item(line) {
    const zone = this.client.event?.timezone;
    return el('li', { class: 'caption-sent', testid: 'caption-sent', dataset: { seq: String(line.seq) } },
      el('time', { datetime: line.at, class: 'caption-time' }, formatTime(line.at, zone, { timeStyle: 'medium' })),
      ' ', el('span', { dir: 'auto' }, line.text));
  }

  /**
   * Split text into lines and send them, in order, after any still on their way.
   * @param {string} text
   */
  #queue(text) {
    const lines = text.split(/\r\n|\r|\n/).map((line) => line.trim()).filter(Boolean);
    if (!lines.length) return;
    this.pending.push(...lines);
    if (!this.sending) this.#drain();
  }

  async #drain() {
    this.sending = true;
    showError(this.error, null);
    const language = this.language.value || 'floor';
    while (this.pending.length) {
      if (this.pending.length > 1) this.status.textContent = tn(this.pending.length, '{count} line to send…', '{count} lines to send…');
      const text = /** @type {string} */ (this.pending[0]);
      try {
        await this.client.postCaption({ language, text });
        this.pending.shift();
      } catch (error) {
        const code = /** @type {any} */ (error)?.code;
        // Too fast, or the connection is down for a moment: wait, then send the same line again. (Not after
        // a timeout: the line may have been stored, and sending it twice would put it twice in the record.)
        if (code === 'rate_limited' || code === 'not_connected') {
          this.status.textContent = code === 'rate_limited'
            ? tn(this.pending.length, '{count} line to send…', '{count} lines to send…')
            : t('Waiting for the connection to send the next line…');
          await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
          continue;
        }
        // Refused: this line and the ones after it go back into the box, ahead of anything typed since.
        const unsent = this.pending.splice(0);
        this.input.value = [...unsent, this.input.value].filter(Boolean).join('\n');
        showError(this.error, error);
      }
    }
    this.status.textContent = '';
    this.sending = false;
  }

  /** @param {'vtt' | 'txt'} format */
  async #download(format) {
    showError(this.error, null);
    try {
      const { blob, filename } = await this.client.exportTranscript(format, { language: this.language.value });
      saveBlob(blob, filename);
    } catch (error) {
      showError(this.error, error);
    }
  }
}

startConsole({
  role: 'captioner',
  extend: (client, root) => {
    const desk = new CaptionDesk(client, root);
    new StatementsPanel(client, root); // statements sent in advance (issue 21)
    return desk;
  },
});