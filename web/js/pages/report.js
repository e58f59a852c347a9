// @ts-check
/**
 * The session record page (/s/{id}/report, moderators) and the event record page (/e/{id}/report, the
 * event's administrators). The server renders the record (GET .../report?format=html); this page fetches
 * it with the token in the Authorization header, shows its document, and offers the downloads and printing.
 */
import { language, t } from '../i18n.js';
import { ProtocolError } from '../protocol/errors.js';
import { fetchReport } from '../protocol/organiser.js';
import { parsePath } from '../route.js';
import { adminTokenKey, staffTokenKey, tokenFor } from '../tokens.js';
import { el, errorText, saveBlob } from '../ui.js';

const route = parsePath();
const scope = route.kind === 'event-report'
  ? { eventId: /** @type {number | string} */ (route.eventId) }
  : { sessionId: /** @type {number | string} */ (route.sessionId) };
const token = route.kind === 'event-report'
  ? tokenFor(adminTokenKey(/** @type {number | string} */ (route.eventId)))
  : tokenFor(staffTokenKey(/** @type {number | string} */ (route.sessionId), 'moderator'));

const status = /** @type {HTMLElement} */ (document.getElementById('status'));
const error = /** @type {HTMLElement} */ (document.getElementById('error'));
const record = /** @type {HTMLElement} */ (document.getElementById('record'));
const buttons = {
  print: /** @type {HTMLButtonElement} */ (document.getElementById('print')),
  csv: /** @type {HTMLButtonElement} */ (document.getElementById('csv')),
  interventions: /** @type {HTMLButtonElement} */ (document.getElementById('interventions-csv')),
  json: /** @type {HTMLButtonElement} */ (document.getElementById('json')),
};

/** @param {unknown} err */
function explain(err) {
  if (err instanceof ProtocolError) {
    if (['token_missing', 'token_invalid', 'token_expired', 'token_unknown', 'token_revoked'].includes(err.code)) {
      return t('{reason} Open this page from the moderator console of the session (or the administrator\u2019s page for a whole event), or ask the organisers for a new link.',
        { reason: errorText(err) });
    }
    if (err.status === 403) {
      return t('{reason} The record is for the session\u2019s moderators and the event\u2019s administrators.',
        { reason: errorText(err) });
    }
    return errorText(err);
  }
  return t('Something went wrong while loading the record. Reload the page to try again.');
}

/** @param {unknown} err */
function fail(err) {
  status.textContent = '';
  error.textContent = explain(err);
  error.hidden = false;
  if (!record.querySelector('main')) {
    // No record to show: the explanation is the page's main content, under a heading that says so.
    record.replaceChildren(el('main', { class: 'report-body' }, el('h1', {}, t('The record cannot be shown')), error));
  }
}

/**
 * @param {'csv' | 'json'} format
 * @param {import('../protocol.js').ReportPart} part
 */
async function download(format, part) {
  if (!token) return;
  error.hidden = true;
  try {
    const { blob, filename } = await fetchReport(scope, format, token, { part });
    saveBlob(blob, filename);
    status.textContent = t('Downloaded {file}.', { file: filename });
  } catch (err) {
    fail(err);
  }
}

async function load() {
  if (!token) {
    fail(new ProtocolError('token_missing', t('This page was opened without a link.')));
    return;
  }
  try {
    // The record in the page's language (the server writes it with the same catalogues).
    const { blob } = await fetchReport(scope, 'html', token, { embed: true, lang: language().code });
    // The server's document, rendered and escaped by the server; its <main> is shown here, under this page's
    // stylesheet (the same one the saved file carries inline).
    const doc = new DOMParser().parseFromString(await blob.text(), 'text/html');
    const main = doc.querySelector('main');
    if (!main) throw new Error('the record has no content');
    record.replaceChildren(document.adoptNode(main));
    document.title = t('{title} — Hemicycle', { title: doc.title });
    status.textContent = t('The record as of now. Print it, or save it as a PDF from the print dialog.');
    for (const button of Object.values(buttons)) button.disabled = false;
  } catch (err) {
    fail(err);
  }
}

// The session's archive (its recording, captions and chapters, with their downloads): the same token is found
// there, in this browser's storage.
if (route.kind !== 'event-report') {
  const archive = /** @type {HTMLAnchorElement} */ (document.getElementById('archive-link'));
  archive.href = `/s/${encodeURIComponent(String(route.sessionId))}/archive`;
  archive.hidden = false;
}

buttons.print.addEventListener('click', () => window.print());
buttons.csv.addEventListener('click', () => download('csv', 'figures'));
buttons.interventions.addEventListener('click', () => download('csv', 'interventions'));
buttons.json.addEventListener('click', () => download('json', 'figures'));
load();
