// @ts-check
/**
 * The administrator's agenda tools (/e/{event id}/admin): add, change and delete a session, and import an
 * agenda file, over HTTP. Times are typed and shown in the event's time zone, as the server reads them.
 */

import { t } from '../i18n.js';
import { languageLabel } from '../labels.js';
import { createSession, deleteSession, updateSession, uploadAgenda } from '../protocol/organiser.js';
import { announce, askDialog, el, errorNode, fill, showError } from '../ui.js';

const LANGUAGES = ['ar', 'zh', 'en', 'fr', 'ru', 'es'];

/**
 * A moment as a datetime-local value ("2030-05-27T16:00") in a time zone.
 * @param {string} iso
 * @param {string | undefined} timeZone
 */
export function localInput(iso, timeZone) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-CA', {
    timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(new Date(iso)).map((part) => [part.type, part.value]));
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

/**
 * @param {string} id
 * @param {string} label
 * @param {HTMLElement} input
 */
function field(id, label, input) {
  input.id = id;
  return el('div', { class: 'field' }, el('label', { for: id }, label), input);
}

/**
 * The form that adds a session, or changes one (`edit`), and the agenda file import.
 * @param {{box: HTMLElement, eventId: number, token: string, timeZone: string | undefined, changed: () => void}} options
 */
export function sessionEditor({ box, eventId, token, timeZone, changed }) {
  /** @type {import('../protocol.js').Session | null} */
  let editing = null;
  const title = /** @type {HTMLInputElement} */ (el('input', { type: 'text', maxlength: '300', required: true, autocomplete: 'off' }));
  const room = /** @type {HTMLInputElement} */ (el('input', { type: 'text', maxlength: '200', autocomplete: 'off' }));
  const starts = /** @type {HTMLInputElement} */ (el('input', { type: 'datetime-local', required: true }));
  const ends = /** @type {HTMLInputElement} */ (el('input', { type: 'datetime-local', required: true }));
  const seconds = /** @type {HTMLInputElement} */ (el('input', { type: 'number', min: '15', max: '3600', value: '180', class: 'input-short' }));
  const isPublic = /** @type {HTMLInputElement} */ (el('input', { type: 'checkbox', id: 'session-public', checked: '' }));
  const waiting = /** @type {HTMLSelectElement} */ (el('select', {},
    el('option', { value: '' }, t('As the server is set')),
    el('option', { value: 'on' }, t('On: a moderator admits each attendee')),
    el('option', { value: 'off' }, t('Off'))));
  /** @type {Record<string, HTMLInputElement>} */
  const languages = {};
  const languageBoxes = LANGUAGES.map((code) => {
    const box = /** @type {HTMLInputElement} */ (el('input', { type: 'checkbox', id: `session-language-${code}`, checked: code === 'en' ? '' : null }));
    languages[code] = box;
    return el('div', { class: 'field field-check' }, box, el('label', { for: box.id }, languageLabel(code)));
  });
  const heading = el('h2', { id: 'session-editor-heading' }, t('Add a session'));
  const submit = /** @type {HTMLButtonElement} */ (el('button', { type: 'submit', testid: 'session-save' }, t('Add the session')));
  const cancel = /** @type {HTMLButtonElement} */ (el('button', { type: 'button', class: 'secondary', hidden: true,
    onclick: () => reset() }, t('Cancel')));
  const error = errorNode();
  const zoneHint = el('p', { class: 'hint' }, t('Times are in the event\u2019s time zone ({zone}).', { zone: timeZone ?? 'UTC' }));
  const form = /** @type {HTMLFormElement} */ (el('form', { novalidate: true, testid: 'session-form' },
    zoneHint,
    field('session-title', t('Title'), title),
    field('session-room', t('Room'), room),
    field('session-starts', t('Starts'), starts),
    field('session-ends', t('Ends'), ends),
    el('fieldset', { class: 'demographics' }, el('legend', {}, t('Languages')), languageBoxes),
    field('session-seconds', t('Speaking time (seconds)'), seconds),
    el('div', { class: 'field field-check' }, isPublic, el('label', { for: isPublic.id }, t('Public: listed on the home page'))),
    field('session-waiting', t('Waiting room'), waiting),
    el('p', { class: 'actions' }, submit, cancel),
    error));

  const keep = el('option', { value: 'keep' }, t('Unchanged'));

  function reset() {
    editing = null;
    keep.remove();
    form.reset();
    heading.textContent = t('Add a session');
    submit.textContent = t('Add the session');
    cancel.hidden = true;
    showError(error, null);
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError(error, null);
    /** @type {Record<string, unknown>} */
    const body = {
      title: title.value,
      room: room.value,
      starts_at: starts.value,
      ends_at: ends.value,
      languages: LANGUAGES.filter((code) => languages[code].checked),
      default_speaking_seconds: Number(seconds.value),
      public: isPublic.checked,
      waiting_room: waiting.value === '' ? null : waiting.value === 'on',
    };
    if (waiting.value === 'keep') delete body.waiting_room;
    submit.disabled = true;
    try {
      const { session } = editing
        ? await updateSession(editing.id, body, token)
        : await createSession(eventId, body, token);
      announce(editing ? t('{session}: saved.', { session: session.title }) : t('{session}: added.', { session: session.title }));
      reset();
      changed();
    } catch (err) {
      showError(error, err);
    } finally {
      submit.disabled = false;
    }
  });

  const file = /** @type {HTMLInputElement} */ (el('input', { type: 'file', accept: '.yaml,.yml,.json' }));
  const importError = errorNode();
  const importResult = el('p', { role: 'status', testid: 'agenda-result' });
  const importForm = el('form', { novalidate: true, testid: 'agenda-form', onsubmit: async (/** @type {Event} */ event) => {
    event.preventDefault();
    showError(importError, null);
    fill(importResult);
    const chosen = file.files?.[0];
    if (!chosen) return;
    try {
      const type = chosen.name.endsWith('.json') ? 'application/json' : 'application/yaml';
      const result = await uploadAgenda(eventId, await chosen.text(), chosen.name, type, token);
      fill(importResult, t('{created} created, {updated} updated.', { created: result.created, updated: result.updated }));
      changed();
    } catch (err) {
      showError(importError, err);
    }
  } },
  field('agenda-file', t('Agenda file (YAML or JSON, as for the import-agenda command)'), file),
  el('p', { class: 'actions' }, el('button', { type: 'submit', class: 'secondary' }, t('Import'))),
  importError, importResult);

  fill(box,
    el('section', { 'aria-labelledby': heading.id }, heading, form),
    el('section', { 'aria-labelledby': 'agenda-import-heading' },
      el('h2', { id: 'agenda-import-heading' }, t('Import an agenda file')), importForm));

  return {
    /** @param {import('../protocol.js').Session} session */
    edit(session) {
      editing = session;
      title.value = session.title;
      room.value = session.room;
      starts.value = localInput(session.starts_at, timeZone);
      ends.value = localInput(session.ends_at, timeZone);
      seconds.value = String(session.default_speaking_seconds);
      isPublic.checked = session.is_public;
      waiting.prepend(keep);
      waiting.value = 'keep';
      for (const code of LANGUAGES) languages[code].checked = session.languages.includes(code);
      heading.textContent = t('Change {session}', { session: session.title });
      submit.textContent = t('Save the changes');
      cancel.hidden = false;
      title.focus();
    },
    /** @param {import('../protocol.js').Session} session */
    async remove(session) {
      const answer = await askDialog({
        title: t('Delete {session}?', { session: session.title }),
        text: t('Its queue, questions, captions and record are deleted with it.'),
        confirm: t('Delete'), danger: true, testid: 'delete-dialog',
      });
      if (answer === null) return;
      try {
        await deleteSession(session.id, token);
        announce(t('{session}: deleted.', { session: session.title }));
        changed();
      } catch (err) {
        showError(error, err);
        error.scrollIntoView?.();
      }
    },
  };
}
