// @ts-check
/**
 * Live captions as readers see them: the latest lines of one language, in a polite ARIA live region, with a
 * choice of language. Used under the video on the attendee's page and as the caption line of the room display.
 * Page layer.
 *
 * Only finished lines exist (the protocol has no in-progress ones), so a screen reader announces each line
 * once, as it comes; re-filling the region (a welcome after a reconnection, another language chosen) is done
 * with the region switched off, so old lines are not read again.
 *
 * Test hooks: `captions` (the component, `data-language`), `caption-language` (the choice),
 * `caption-lines` (the live region), `caption-line` (each line, `data-seq`).
 */

import { msg, onLanguageChange, t } from './i18n.js';
import { languageLabel } from './labels.js';
import { CAPTION_LANGUAGES } from './protocol/captions.js';
import { el, fill } from './ui.js';

/** @typedef {import('./protocol.js').CaptionLine} CaptionLine */
/** @typedef {import('./protocol.js').HemicycleClient} HemicycleClient */

const STORAGE_KEY = 'hemicycle.captions.language';

/**
 * The name of a caption channel.
 * @param {string} code
 */
export function captionLanguageLabel(code) {
  return code === 'floor' ? t('Floor (as spoken in the room)') : languageLabel(code, { native: true });
}

/**
 * The caption channels a session offers: the floor and its languages (all six when it lists none).
 * @param {readonly string[] | null | undefined} sessionLanguages
 */
export function captionLanguages(sessionLanguages) {
  const listed = (sessionLanguages ?? []).filter((code) => CAPTION_LANGUAGES.includes(code));
  return ['floor', ...(listed.length ? CAPTION_LANGUAGES.filter((c) => listed.includes(c)) : CAPTION_LANGUAGES.slice(1))];
}

export class CaptionView {
  /**
   * @param {{lines?: number, large?: boolean, choose?: boolean, language?: string | null, id?: string}} [options]
   *   lines: how many of the latest lines to show; large: the room display's type; choose: show the language
   *   choice (remembered on this browser); language: the one to start with (else the remembered one, else the
   *   page's language when it has lines, else the floor)
   */
  constructor({ lines = 3, large = false, choose = true, language = null, id = 'captions' } = {}) {
    this.shown = lines;
    /** @type {string} */ this.language = language ?? remembered() ?? 'floor';
    this.chosen = language !== null || remembered() !== null;
    /** @type {CaptionLine[]} */ this.all = [];
    this.select = /** @type {HTMLSelectElement} */ (el('select', { id: `${id}-language`, testid: 'caption-language' }));
    this.select.addEventListener('change', () => {
      this.language = this.select.value;
      this.chosen = true;
      try {
        localStorage.setItem(STORAGE_KEY, this.language);
      } catch {
        // Not remembered: the choice still holds on this page.
      }
      this.#refill();
    });
    this.region = el('div', {
      class: 'caption-lines', role: 'log', 'aria-live': 'polite', 'aria-atomic': 'false',
      'aria-relevant': 'additions', testid: 'caption-lines', 'aria-label': msg('Live captions'),
    });
    this.empty = el('p', { class: 'caption-empty muted' }, msg('No captions yet.'));
    this.node = el('div', { class: `captions${large ? ' captions-large' : ''}`, testid: 'captions' },
      choose ? el('p', { class: 'caption-choice' },
        el('label', { for: `${id}-language` }, msg('Captions')), ' ', this.select) : null,
      this.region, this.empty);
    /** @type {readonly string[] | null} */ this.sessionLanguages = null;
    this.fillLanguages(null);
    onLanguageChange(() => this.fillLanguages(this.sessionLanguages)); // the languages' names
  }

  /**
   * The choice of languages for a session.
   * @param {readonly string[] | null} sessionLanguages
   */
  fillLanguages(sessionLanguages) {
    this.sessionLanguages = sessionLanguages;
    const codes = captionLanguages(sessionLanguages);
    if (!codes.includes(this.language)) this.language = 'floor';
    fill(this.select, codes.map((code) => el('option', { value: code, selected: code === this.language },
      captionLanguageLabel(code))));
  }

  /**
   * Everything again (a welcome): the session's languages and the lines held, without announcing them.
   * @param {HemicycleClient} client
   * @param {string} [pageLanguage]   the interface's language, chosen when it has lines and nothing was chosen
   */
  reset(client, pageLanguage) {
    this.all = [...client.captions];
    if (!this.chosen && pageLanguage && this.all.some((line) => line.language === pageLanguage)) {
      this.language = pageLanguage;
    }
    this.fillLanguages(client.session?.languages ?? null);
    this.#refill();
  }

  /**
   * A new line: shown (and so announced) when it is in the chosen language.
   * @param {CaptionLine} line
   */
  add(line) {
    this.all.push(line);
    if (this.all.length > 500) this.all.splice(0, this.all.length - 500);
    if (line.language !== this.language) return;
    this.empty.hidden = true;
    this.region.append(lineNode(line));
    while (this.region.children.length > this.shown) this.region.firstElementChild?.remove();
  }

  /** Show the chosen language's latest lines with the live region off, so they are not read out again. */
  #refill() {
    this.node.dataset.language = this.language;
    this.region.setAttribute('lang', this.language === 'floor' ? '' : this.language);
    const latest = this.all.filter((line) => line.language === this.language).slice(-this.shown);
    this.region.setAttribute('aria-live', 'off');
    fill(this.region, latest.map(lineNode));
    this.empty.hidden = latest.length > 0;
    setTimeout(() => this.region.setAttribute('aria-live', 'polite'), 0);
  }
}

/** @param {CaptionLine} line */
function lineNode(line) {
  return el('p', { class: 'caption-line', dir: 'auto', testid: 'caption-line', dataset: { seq: String(line.seq) } },
    line.text);
}

function remembered() {
  try {
    const stored = localStorage.getItem(STORAGE_KEY);
    return stored && CAPTION_LANGUAGES.includes(stored) ? stored : null;
  } catch {
    return null;
  }
}
