// @ts-check
/**
 * The help desk as people see it (docs/protocol.md "Help desk"). Page layer.
 *
 * HelpPanel: the attendee's small help panel — a choice of problem and optional words, sent with the page's
 * own link figures; then the conversation, with a box to write again until staff close it. New answers are
 * read out through the page's polite announcer.
 *
 * HelpQueue: the AV desk's and the moderator console's queue of requests not yet closed, oldest first, each
 * with who asked, the figures their page sent, the conversation, a reply box, the prepared answers and Close.
 *
 * Everything is keyboard-usable (native controls only). Test hooks: `help-panel`, `help-category`,
 * `help-text`, `help-send`, `help-thread` (`data-state`), `help-message`, `help-reply`, `help-queue`,
 * `help-request` (`data-id`, `data-state`), `help-figures`, `help-answer`, `help-answer-send`, `help-close`.
 */

import { formatNumber, language, locale, t, tn } from './i18n.js';
import { HELP_ANSWERS, HELP_CATEGORIES, HELP_MAX_CHARS, browserOf } from './protocol/help.js';
import { announce, el, errorNode, fill, showError, userText } from './ui.js';

/** @typedef {import('./protocol-types.js').HelpThreadMine} HelpThreadMine */
/** @typedef {import('./protocol-types.js').HelpThreadStaff} HelpThreadStaff */
/** @typedef {import('./protocol.js').HemicycleClient} HemicycleClient */

/** @param {string} category */
export function categoryLabel(category) {
  switch (category) {
    case 'no_sound': return t('I can’t hear the floor');
    case 'no_picture': return t('No picture');
    case 'microphone': return t('My microphone doesn’t work');
    default: return t('Other problem');
  }
}

/** @param {string} key */
function answerLabel(key) {
  switch (key) {
    case 'looking': return t('We are looking into it');
    case 'check_channel': return t('Check the channel and the volume');
    case 'reload': return t('Reload the page');
    case 'microphone': return t('Allow the microphone and pick it');
    default: return t('Fixed on our side');
  }
}

/** @param {string} state */
function stateWords(state) {
  if (state === 'open') return t('Waiting for a technician');
  if (state === 'answered') return t('A technician answered');
  return t('Closed');
}

/** @param {string} iso */
function clock(iso) {
  return new Intl.DateTimeFormat(locale(), { timeStyle: 'short' }).format(new Date(iso));
}

/**
 * The conversation of one request, oldest first.
 * @param {HelpThreadMine} thread
 */
function conversation(thread) {
  return el('ol', { class: 'help-messages' }, thread.messages.map((m) => el('li',
    { class: `help-message from-${m.from}`, testid: 'help-message', dataset: { from: m.from } },
    el('span', { class: 'muted' }, m.from === 'staff' ? t('{name} (staff)', { name: m.by.name }) : m.by.name,
      ' · ', el('time', { datetime: m.at }, clock(m.at))),
    ' ', userText(m.text, 'help-text', 'p'))));
}

/**
 * A text box with its label, bounded as the server bounds it.
 * @param {string} id
 * @param {string} label
 * @param {string} testid
 */
function textBox(id, label, testid) {
  const box = /** @type {HTMLTextAreaElement} */ (el('textarea',
    { id, name: id, rows: 2, maxlength: HELP_MAX_CHARS, testid, dir: 'auto' }));
  return { box, label: el('label', { for: id }, label) };
}

export class HelpPanel {
  /**
   * @param {HTMLElement} node
   * @param {() => HemicycleClient | null} client
   * @param {() => Promise<Record<string, unknown>>} figures  this page's link figures, measured now
   */
  constructor(node, client, figures) {
    this.node = node;
    this.client = client;
    this.figures = figures;
    this.error = errorNode();
    this.busy = false;
    /** @type {Map<number, number>} how many staff messages of each thread were seen (to announce new ones) */
    this.seen = new Map();
    this.node.dataset.testid = 'help-panel';
    this.update();
  }

  /** Render again from the client's state (and after a change of language). */
  update() {
    const client = this.client();
    const thread = client ? client.helpMine.at(-1) ?? null : null;
    for (const held of client ? client.helpMine : []) {
      const answers = held.messages.filter((m) => m.from === 'staff').length;
      const before = this.seen.get(held.id);
      if (before !== undefined && answers > before) announce(t('A technician answered your help request.'));
      if (before !== undefined && held.state === 'closed' && this.seen.get(-held.id) === undefined) {
        announce(t('Your help request was closed.'));
      }
      if (held.state === 'closed') this.seen.set(-held.id, 1);
      this.seen.set(held.id, answers);
    }
    const parts = [];
    if (thread) {
      parts.push(el('div', { class: 'help-thread', testid: 'help-thread', dataset: { state: thread.state } },
        el('p', { class: 'help-state' }, el('strong', {}, categoryLabel(thread.category)), ' — ', stateWords(thread.state)),
        conversation(thread)));
    }
    if (thread && thread.state !== 'closed') parts.push(this.#writeForm(thread));
    else parts.push(this.#openForm(thread !== null));
    fill(this.node, parts, this.error);
  }

  /** @param {boolean} again */
  #openForm(again) {
    const legend = again ? t('Another problem?') : t('What is the problem?');
    const choices = HELP_CATEGORIES.map((category, index) => el('label', { class: 'help-choice' },
      el('input', { type: 'radio', name: 'help-category', value: category, checked: index === 0,
        testid: 'help-category' }), ' ', categoryLabel(category)));
    const { box, label } = textBox('help-text', t('Details (optional)'), 'help-text');
    const send = el('button', { type: 'submit', testid: 'help-send' }, t('Ask for help'));
    const form = /** @type {HTMLFormElement} */ (el('form', { class: 'help-form' },
      el('fieldset', {}, el('legend', {}, legend), choices),
      label, box,
      el('p', { class: 'hint', id: 'help-figures-hint' },
        t('Your connection’s figures (round-trip time, loss, bitrate, sound level, browser, channel) are sent with your request, so that the technicians can see the cause.')),
      el('p', { class: 'actions' }, send)));
    box.setAttribute('aria-describedby', 'help-figures-hint');
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const chosen = /** @type {HTMLInputElement | null} */ (form.querySelector('input[name="help-category"]:checked'));
      this.#send(async (client) => {
        const measured = { ...(await this.figures()), ...browserOf(navigator.userAgent) };
        await client.openHelp({ category: chosen?.value ?? 'other', language: language().code, text: box.value,
          figures: clean(measured) });
        announce(t('Your help request was sent.'));
      });
    });
    return form;
  }

  /** @param {HelpThreadMine} thread */
  #writeForm(thread) {
    const { box, label } = textBox('help-reply', t('Add a message'), 'help-reply');
    const form = /** @type {HTMLFormElement} */ (el('form', { class: 'help-form' }, label, box,
      el('p', { class: 'actions' }, el('button', { type: 'submit', testid: 'help-send' }, t('Send')))));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (!box.value.trim()) return;
      this.#send((client) => client.writeHelp(thread.id, box.value));
    });
    return form;
  }

  /** @param {(client: HemicycleClient) => Promise<unknown>} action */
  async #send(action) {
    const client = this.client();
    if (!client || this.busy) return;
    this.busy = true;
    showError(this.error, null);
    try {
      await action(client);
    } catch (error) {
      showError(this.error, error);
      this.busy = false;
      return;
    }
    this.busy = false;
    this.update();
    /** @type {HTMLElement | null} */ (this.node.querySelector('textarea'))?.focus();
  }
}

/**
 * Only what the server takes: finite numbers in range, words of known length (it refuses the rest).
 * @param {Record<string, unknown>} figures
 */
function clean(figures) {
  /** @type {Record<string, unknown>} */
  const kept = {};
  for (const [key, value] of Object.entries(figures)) {
    if (typeof value === 'number' && Number.isFinite(value)) kept[key] = value;
    else if (typeof value === 'string' && value) kept[key] = value;
  }
  return kept;
}

export class HelpQueue {
  /**
   * @param {HTMLElement} node
   * @param {() => HemicycleClient | null} client
   */
  constructor(node, client) {
    this.node = node;
    this.client = client;
    /** @type {Set<number>} */ this.known = new Set();
    // The first list read (after a welcome) is not news; requests that come after it are announced.
    this.primed = false;
    this.node.dataset.testid = 'help-queue';
    this.update();
  }

  update() {
    const client = this.client();
    const queue = client ? client.helpQueue : [];
    for (const thread of queue) {
      if (this.primed && !this.known.has(thread.id)) announce(t('New help request from {name}.', { name: thread.by.name }));
      this.known.add(thread.id);
    }
    this.primed = this.primed || (client !== null && client.connection === 'connected');
    const focused = document.activeElement?.id ?? null;
    fill(this.node,
      el('p', { class: 'help-count', testid: 'help-count' },
        queue.length ? tn(queue.length, '{count} open help request', '{count} open help requests') : t('No open help requests.')),
      el('ol', { class: 'help-requests' }, queue.map((thread) => this.#item(thread))));
    if (focused) document.getElementById(focused)?.focus();
  }

  /** @param {HelpThreadStaff} thread */
  #item(thread) {
    const error = errorNode();
    const { box, label } = textBox(`help-answer-${thread.id}`, t('Answer'), 'help-answer');
    const reply = /** @type {HTMLFormElement} */ (el('form', { class: 'help-form' }, label, box,
      el('p', { class: 'actions' }, el('button', { type: 'submit', testid: 'help-answer-send' }, t('Send answer')))));
    reply.addEventListener('submit', (event) => {
      event.preventDefault();
      if (!box.value.trim()) return;
      this.#act(error, (client) => client.answerHelp(thread.id, { text: box.value }));
    });
    const prepared = /** @type {HTMLSelectElement} */ (el('select', { id: `help-prepared-${thread.id}`, testid: 'help-prepared' },
      HELP_ANSWERS.map((key) => el('option', { value: key }, answerLabel(key)))));
    const sendPrepared = el('button', { type: 'button', class: 'secondary', testid: 'help-prepared-send',
      id: `help-prepared-send-${thread.id}`,
      onclick: () => this.#act(error, (client) => client.answerHelp(thread.id, { answer: prepared.value })) },
    t('Send prepared answer'));
    const close = el('button', { type: 'button', class: 'secondary', testid: 'help-close', id: `help-close-${thread.id}`,
      onclick: () => this.#act(error, (client) => client.closeHelp(thread.id)) }, t('Close request'));
    const headingId = `help-request-${thread.id}-heading`;
    return el('li', { class: 'help-request', testid: 'help-request', dataset: { id: String(thread.id), state: thread.state },
      'aria-labelledby': headingId },
    el('h3', { id: headingId }, categoryLabel(thread.category), ' — ', userText(thread.by.name)),
    el('p', { class: 'muted' }, stateWords(thread.state), ' · ', el('time', { datetime: thread.opened_at }, clock(thread.opened_at))),
    figureList(thread.figures),
    conversation(thread),
    reply,
    el('p', { class: 'actions' },
      el('label', { for: `help-prepared-${thread.id}` }, t('Prepared answer')), ' ', prepared, ' ', sendPrepared, ' ', close),
    error);
  }

  /**
   * @param {HTMLElement} error
   * @param {(client: HemicycleClient) => Promise<unknown>} action
   */
  async #act(error, action) {
    const client = this.client();
    if (!client) return;
    showError(error, null);
    try {
      await action(client);
    } catch (failure) {
      showError(error, failure);
      return;
    }
    this.update();
  }
}

/**
 * The figures a page sent, as staff read them; a figure not sent reads "—".
 * @param {import('./protocol-types.js').HelpFiguresView} figures
 */
function figureList(figures) {
  const number = (/** @type {number | null} */ value, /** @type {string} */ unit) =>
    (value === null ? '—' : `${formatNumber(value)} ${unit}`);
  /** @type {[string, string][]} */
  const rows = [
    [t('Round-trip time'), number(figures.rtt_ms, 'ms')],
    [t('Loss'), number(figures.loss_pct, '%')],
    [t('Bitrate'), number(figures.bitrate_kbps, 'kbit/s')],
    [t('Sound level'), number(figures.audio_level_dbov, 'dBov')],
    [t('Browser'), [figures.browser, figures.browser_version].filter(Boolean).join(' ') || '—'],
    [t('Channel'), figures.channel ?? '—'],
    [t('Connection'), figures.connection ?? '—'],
  ];
  return el('dl', { class: 'help-figures', testid: 'help-figures' },
    rows.map(([name, value]) => [el('dt', {}, name), el('dd', {}, value)]));
}
