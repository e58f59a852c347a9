// @ts-check
/**
 * Statements sent in advance (issue 21, item 5), on the pages: the booths' and the captioner's list of them
 * with the queue (the speaker, then the line, each with its statement to open in the browser), and the attach
 * control used on the attendee page (their own request) and in the moderator's queue console (anyone's).
 * Attendees never see a statement: their control only sends one.
 */

import { languageLabel } from '../labels.js';
import { msg, t } from '../i18n.js';
import { STATEMENT_READ } from '../protocol/statements.js';
import { el, errorNode, fill, showError, userText } from '../ui.js';

/** @typedef {import('../protocol.js').HemicycleClient} HemicycleClient */
/** @typedef {import('../protocol-types.js').StatementView} StatementView */

/** What the file picker offers; the server decides from the bytes. */
const ACCEPT = '.pdf,.txt,application/pdf,text/plain';

/** @param {number} bytes */
function sizeText(bytes) {
  return bytes >= 1024 * 1024 ? `${(bytes / (1024 * 1024)).toFixed(1)} MB`
    : bytes >= 1024 ? `${Math.round(bytes / 1024)} kB` : `${bytes} B`;
}

/**
 * A refused statement in the reader's words (the server's own message for a code not listed).
 * @param {any} failure  a ProtocolError
 */
function refusal(failure) {
  const code = failure?.code;
  const max = failure?.details?.max_bytes;
  const words = code === 'statement_too_large'
    ? t('This file is too large: a statement may be at most {size}.', { size: sizeText(typeof max === 'number' ? max : 0) })
    : code === 'statement_type' ? t('This file is neither a PDF nor plain text (UTF-8). Save the statement as PDF or as text, and send it again.')
      : code === 'statement_malformed' ? t('This file is empty or damaged. Save the statement again, as PDF or as text.')
        : code === 'not_in_line' ? t('This request is no longer in line.')
          : code === 'not_yours' ? t('You may attach a statement to your own request only.') : null;
  return words ? { code, message: words } : failure;
}

/** @param {StatementView} statement */
function kindText(statement) {
  return statement.kind === 'pdf' ? 'PDF' : t('Text');
}

/**
 * Open a statement in a new tab (the browser's own PDF or text viewer), from a blob: the file is fetched with
 * the page's token, which a plain link could not send.
 * @param {HemicycleClient} client
 * @param {number} entryId
 */
export async function openStatement(client, entryId) {
  const tab = window.open('', '_blank'); // opened now, within the click, so no blocker stops it
  /** @type {Blob} */
  let blob;
  try {
    ({ blob } = await client.openStatement(entryId));
  } catch (failure) {
    tab?.close(); // no blank tab left behind: the page says what went wrong
    throw failure;
  }
  const url = URL.createObjectURL(blob);
  if (tab) tab.location.href = url;
  else window.location.assign(url);
  setTimeout(() => URL.revokeObjectURL(url), 120_000);
}

/**
 * A button that sends a file as the statement of one request, and says what happened.
 * @param {HemicycleClient} client
 * @param {number} entryId
 * @param {{label?: string, name?: string, attached?: import('../protocol-types.js').MyStatement | null}} [options]
 *   name: whose request, for screen readers; attached: what the speaker's own view says is attached (kind and
 *   name only: an attendee's page has no list of statements, and this survives a reload)
 * @returns {HTMLElement}
 */
export function statementControl(client, entryId, { label, name, attached } = {}) {
  const input = /** @type {HTMLInputElement} */ (el('input', {
    type: 'file', accept: ACCEPT, hidden: true, testid: 'statement-file', tabindex: '-1',
  }));
  const known = client.statements.get(entryId);
  const words = document.createTextNode(label ?? (known || attached ? t('Replace the statement') : t('Attach my statement')));
  const button = /** @type {HTMLButtonElement} */ (el('button', {
    type: 'button', class: 'secondary', testid: 'statement-attach',
    onclick: () => input.click(),
  }, words, name ? el('span', { class: 'visually-hidden' }, `: ${name}`) : null));
  const status = el('span', { class: 'muted statement-status', role: 'status', testid: 'statement-status' },
    known ? t('{kind} attached ({size}).', { kind: kindText(known), size: sizeText(known.size) })
      : attached ? t('Statement attached: {name}', { name: attached.name }) : '');
  const error = errorNode();
  input.addEventListener('change', async () => {
    const file = input.files?.[0];
    input.value = '';
    if (!file) return;
    showError(error, null);
    button.disabled = true;
    status.textContent = t('Sending…');
    try {
      const sent = await client.attachStatement(entryId, file);
      status.textContent = t('{kind} attached ({size}). The interpreters and the captioner can read it.',
        { kind: kindText(sent), size: sizeText(sent.size) });
      words.textContent = t('Replace the statement'); // a new file replaces this one
    } catch (failure) {
      status.textContent = '';
      showError(error, refusal(failure));
    } finally {
      button.disabled = false;
    }
  });
  return el('span', { class: 'statement-control', dataset: { statementFor: String(entryId) } },
    button, input, ' ', status, error);
}

/** The booths' and the captioner's panel: who speaks and who is next, each with their statement, if any. */
export class StatementsPanel {
  /**
   * @param {HemicycleClient} client
   * @param {HTMLElement} root
   */
  constructor(client, root) {
    this.client = client;
    this.list = el('ol', { class: 'statement-list', testid: 'statements' });
    this.empty = el('p', { class: 'muted', testid: 'statements-empty' }, msg('Nobody has the floor or is in line.'));
    this.error = errorNode();
    this.section = el('section', { class: 'panel', id: 'statements-panel', 'aria-labelledby': 'statements-heading' },
      el('h2', { id: 'statements-heading' }, msg('Statements in advance')),
      el('div', { class: 'panel-body' },
        el('p', { class: 'hint' }, msg('The texts speakers sent with their request, for the booths and the captioner.')),
        this.error, this.list, this.empty));
    this.section.hidden = true;
    // Just after the page's own first panel (the booth, the caption desk): read while working.
    if (root.firstElementChild) root.firstElementChild.after(this.section);
    else root.prepend(this.section);
    const render = () => this.update();
    client.on('welcome', render);
    client.on('queue', render);
    client.on('statements', render);
  }

  update() {
    const client = this.client;
    this.section.hidden = !client.can(STATEMENT_READ);
    const queue = client.queue;
    const entries = [...(queue?.speaking ? [queue.speaking] : []), ...(queue?.queue ?? [])];
    fill(this.list, entries.map((entry) => this.#item(entry, entry.id === queue?.speaking?.id)));
    this.empty.hidden = entries.length > 0;
  }

  /**
   * @param {import('../protocol.js').StaffEntry} entry
   * @param {boolean} speaking
   */
  #item(entry, speaking) {
    const statement = this.client.statements.get(entry.id);
    const open = statement ? el('button', {
      type: 'button', class: 'secondary', testid: 'statement-open',
      onclick: () => openStatement(this.client, entry.id).catch((failure) => showError(this.error, failure)),
    }, t('Open'), el('span', { class: 'visually-hidden' }, `: ${entry.display_name}`)) : null;
    return el('li', { class: 'statement-item', testid: 'statement-item', dataset: {
      statementEntry: String(entry.id), has: statement ? 'true' : 'false',
    } },
    speaking ? el('span', { class: 'tag' }, t('Speaking')) : null, ' ',
    userText(entry.display_name, 'statement-speaker'), ' ',
    el('span', { class: 'muted' }, `(${languageLabel(entry.language)})`), ' ',
    statement
      ? [el('span', { testid: 'statement-kind' }, t('{kind}, {size}', { kind: kindText(statement), size: sizeText(statement.size) })), ' ', open]
      : el('span', { class: 'muted' }, t('No statement sent')));
  }
}
