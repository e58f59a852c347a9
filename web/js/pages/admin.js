// @ts-check
/**
 * The administrator's page (/e/{event id}/admin): the event's sessions with their state, state controls and
 * role links. HTTP only: the administrator's token covers the whole event, a Socket.IO connection covers one
 * session.
 */

import { t } from '../i18n.js';
import { languageLabel, roleLabel, stateLabel } from '../labels.js';
import { DEAD_TOKEN_CODES } from '../protocol/errors.js';
import { getEvent, getMe, postSessionState } from '../protocol/http.js';
import { issueBoothLink, issueLinks, reissueGrant, revokeGrant } from '../protocol/organiser.js';
import { parsePath } from '../route.js';
import { sessionEditor } from './admin-sessions.js';
import { adminTokenKey, forgetToken, tokenFor } from '../tokens.js';
import {
  StateControls, announce, askDialog, byId, copyField, el, errorNode, errorNotice, fill, formatSlot, formatTime,
  notice, refusalAdvice,
  showError, stateBadge, userText,
} from '../ui.js';

/** Links in the order they are handed out. */
const LINK_ORDER = ['moderator', 'chair', 'av', 'captioner', 'interpreter', 'display', 'attendee'];

const eventId = parsePath().eventId;
const notices = byId('notices');
const list = byId('sessions');
const refresh = /** @type {HTMLButtonElement} */ (byId('refresh'));
/** @type {string | null} */
let token = null;
/** @type {import('../protocol.js').HemicycleEvent | null} */
let currentEvent = null;
/** @type {ReturnType<typeof sessionEditor> | null} */
let editor = null;

start();

async function start() {
  if (eventId === null) {
    fill(notices, errorNotice('not_found', t('No event in this address'), t('Check the link you were given.')));
    return;
  }
  const key = adminTokenKey(eventId);
  token = tokenFor(key);
  refresh.addEventListener('click', load);
  if (!token) {
    const advice = refusalAdvice('token_missing');
    fill(notices, notice(advice.title, t('{advice} Without it, sessions are shown read-only.', { advice: advice.text })));
  } else {
    try {
      const { me } = await getMe(token);
      if (me.role !== 'admin') {
        fill(notices, notice(t('This link is for the {role} role', { role: roleLabel(me.role) }),
          t('Open the administrator link of this event to manage it.')));
        token = null;
      } else {
        const [before, after] = t('Signed in as {name} (Administrator)').split('{name}');
        fill(byId('whoami'), before, userText(me.display_name, 'person-name', 'strong'), after ?? '', ' · ',
          el('a', {
            href: `/e/${encodeURIComponent(String(eventId))}/report`, target: '_blank', rel: 'noopener',
            testid: 'event-report-link',
          }, t('The event\u2019s record and balance report')));
      }
    } catch (err) {
      const code = /** @type {any} */ (err).code;
      if (DEAD_TOKEN_CODES.includes(code)) {
        forgetToken(key);
        token = null;
        const advice = refusalAdvice(code);
        fill(notices, errorNotice(code, advice.title, advice.text));
      } else {
        fill(notices, errorNotice(code ?? 'internal', t('Your link could not be checked'), /** @type {Error} */ (err).message));
      }
    }
  }
  await load();
}

async function load() {
  if (eventId === null) return;
  refresh.disabled = true;
  list.setAttribute('aria-busy', 'true');
  try {
    const { event, sessions } = await getEvent(eventId);
    currentEvent = event;
    byId('event-title').textContent = event.title;
    byId('event-venue').textContent = event.venue;
    document.title = t('{event} — Administration — Hemicycle', { event: event.title });
    if (token && !editor) {
      editor = sessionEditor({ box: byId('session-editor'), eventId, token, timeZone: event.timezone, changed: load });
    }
    fill(list, sessions.map(sessionItem));
    if (!sessions.length) fill(list, el('li', { class: 'muted' }, t('This event has no sessions yet.')));
  } catch (err) {
    fill(list, el('li', {}, errorLine(err)));
  } finally {
    refresh.disabled = false;
    list.removeAttribute('aria-busy');
  }
}

/** @param {unknown} err */
function errorLine(err) {
  const node = errorNode();
  showError(node, err);
  return node;
}

/**
 * The attendee page: a non-public session's names its event, where attendees register before waiting.
 * @param {import('../protocol.js').Session} session
 */
function attendeePath(session) {
  const path = `/s/${encodeURIComponent(String(session.id))}`;
  return session.is_public ? path : `${path}?event=${encodeURIComponent(String(session.event_id))}`;
}

/** @param {import('../protocol.js').Session} session */
function sessionItem(session) {
  const headingId = `session-${session.id}-title`;
  const badgeSlot = el('span', { class: 'badge-slot' }, stateBadge(session.state));
  const controlsBox = el('div', { class: 'session-controls' });
  const linksBox = el('div', { class: 'links', id: `session-${session.id}-links` });
  const linksError = errorNode();
  const linksButton = /** @type {HTMLButtonElement} */ (el('button', {
    type: 'button', class: 'secondary', testid: 'role-links', 'aria-controls': linksBox.id,
    disabled: !token, onclick: () => showLinks(session, linksBox, linksError, linksButton),
  }, t('Role links')));
  const item = el('li', { class: 'session-item', testid: 'session-item', dataset: { sessionId: String(session.id) },
    'aria-labelledby': headingId },
  el('div', { class: 'session-heading' },
    el('h3', { id: headingId, dir: 'auto' }, session.title), badgeSlot),
  el('p', { class: 'session-meta' },
    session.ref ? el('span', { class: 'session-ref', dir: 'auto' }, session.ref) : null,
    session.room ? el('span', { class: 'session-room' }, userText(session.room)) : null, // the name says "Room"
    el('span', {}, formatSlot(session, currentEvent?.timezone)),
    el('a', { href: attendeePath(session) }, t('Attendee page')),
    // The archive page finds the administrator's token through the event named here; who may open the
    // archive is set there.
    el('a', { href: `/s/${encodeURIComponent(String(session.id))}/archive?event=${encodeURIComponent(String(eventId))}`,
      testid: 'archive-link' }, t('Archive'))),
  controlsBox,
  el('p', { class: 'actions' }, linksButton,
    editor ? el('button', { type: 'button', class: 'secondary', testid: 'edit-session',
      onclick: () => editor?.edit(session) }, t('Change')) : null,
    editor ? el('button', { type: 'button', class: 'secondary danger-text', testid: 'delete-session',
      onclick: () => editor?.remove(session) }, t('Delete')) : null),
  linksError,
  linksBox);

  const controls = new StateControls(controlsBox, async (target) => {
    if (!token) return;
    const { session: updated } = await postSessionState(session.id, target, token);
    session = updated;
    fill(badgeSlot, stateBadge(updated.state));
    controls.update(updated.state, { enabled: true });
    announce(t('{session}: {state}.', { session: updated.title, state: stateLabel(updated.state) }));
  });
  controls.update(session.state, { enabled: !!token });
  return item;
}

/**
 * @param {import('../protocol.js').Session} session
 * @param {HTMLElement} box
 * @param {HTMLElement} error
 * @param {HTMLButtonElement} button
 */
async function showLinks(session, box, error, button) {
  if (!token) return;
  button.disabled = true;
  showError(error, null);
  try {
    const { links, grants, expires_at: expiresAt } = await issueLinks(session.id, token);
    const roles = [...LINK_ORDER.filter((role) => role in links),
      ...Object.keys(links).filter((role) => !LINK_ORDER.includes(role))];
    fill(box,
      el('p', { class: 'hint' },
        t('Anyone who holds a link acts in that role: send each one only to the person who needs it.'),
        expiresAt ? ` ${t('These links expire on {time}.', { time: formatTime(expiresAt, currentEvent?.timezone) })}` : ''),
      roles.map((role) => linkRow(session, role, links[role], grants?.[role])),
      boothLinks(session));
    button.textContent = t('New role links');
    const first = box.querySelector('input');
    if (first) first.focus();
  } catch (err) {
    showError(error, err);
  } finally {
    button.disabled = false;
  }
}

/** The six booths, in the order the pages list languages. */
const BOOTHS = ['ar', 'zh', 'en', 'fr', 'ru', 'es'];
// A link may also name the sign-language channel: its interpreter publishes the sign source (a link for
// booths that does not name it may not).
const LINK_GRANTS = [...BOOTHS, 'sign'];

/** @param {string} code  a booth's language, or "sign" */
function grantLabel(code) {
  return code === 'sign' ? t('Sign-language interpretation') : languageLabel(code);
}

/**
 * Interpreters' own links, one per interpreter, for the booths they work in: the interpreter link above
 * works in every booth; these tell partners apart and hold each one to their booths.
 * @param {import('../protocol.js').Session} session
 */
function boothLinks(session) {
  const made = el('div', { class: 'booth-links', testid: 'booth-links' });
  const error = errorNode();
  const name = /** @type {HTMLInputElement} */ (el('input', {
    id: `booth-name-${session.id}`, testid: 'booth-link-name', maxlength: '120', autocomplete: 'off',
  }));
  const boxes = LINK_GRANTS.map((code) => /** @type {HTMLInputElement} */ (el('input', {
    type: 'checkbox', value: code, id: `booth-${session.id}-${code}`, testid: `booth-link-${code}`,
  })));
  const form = el('form', { class: 'booth-link-form', testid: 'booth-link-form' },
    el('fieldset', {},
      el('legend', {}, t('Booths')),
      boxes.map((box) => el('label', { for: box.id, class: 'inline-choice' }, box, ' ', grantLabel(box.value)))),
    el('p', {}, el('label', { for: name.id }, t('Interpreter\u2019s name')), ' ', name),
    el('p', { class: 'actions' }, el('button', { type: 'submit', class: 'secondary', testid: 'booth-link-make' },
      t('Make an interpreter link'))),
    error);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!token) return;
    showError(error, null);
    const languages = boxes.filter((box) => box.checked).map((box) => box.value);
    if (!languages.length || !name.value.trim()) {
      showError(error, t('Tick the interpreter\u2019s booths and give their name.'));
      return;
    }
    try {
      const issued = await issueBoothLink(session.id, { languages, name: name.value.trim() }, token);
      const label = t('{name} ({booths})', {
        name: name.value.trim(), booths: issued.booths.map(grantLabel).join(', '),
      });
      made.append(el('div', { class: 'link-slot' },
        copyField(label, issued.link, `booth-link-${session.id}-${issued.grant_id}`)));
      name.value = '';
      announce(t('{role}: new link ready.', { role: label }));
    } catch (err) {
      showError(error, err);
    }
  });
  return el('section', { class: 'booth-link-section', 'aria-labelledby': `booth-links-${session.id}` },
    el('h4', { id: `booth-links-${session.id}` }, t('Interpreters of the booths')),
    el('p', { class: 'hint' }, t('A link of their own for each interpreter, for the booths they work in.')),
    form, made);
}

/**
 * One role link, with what to do when it leaked: withdraw it, or withdraw it and get a new one.
 * @param {import('../protocol.js').Session} session
 * @param {string} role
 * @param {string} link
 * @param {number | undefined} grantId   none for the attendee page, which anyone may open
 */
function linkRow(session, role, link, grantId) {
  const id = `link-${session.id}-${role}`;
  const fieldSlot = el('div', { class: 'link-slot' }, copyField(roleLabel(role), link, id));
  if (grantId === undefined) return fieldSlot;
  let grant = grantId;
  const error = errorNode();
  const withdraw = /** @type {HTMLButtonElement} */ (el('button', {
    type: 'button', class: 'secondary danger-text', testid: `withdraw-${role}`,
    onclick: async () => {
      const answer = await askDialog({
        title: t('Withdraw the {role} link?', { role: roleLabel(role) }),
        text: t('Whoever holds it is disconnected within seconds and cannot use it again.'),
        confirm: t('Withdraw'), danger: true, testid: 'withdraw-dialog',
      });
      if (answer === null || !token) return;
      showError(error, null);
      try {
        await revokeGrant(grant, token);
        fill(fieldSlot, el('p', { class: 'hint', testid: `withdrawn-${role}` },
          t('{role}: link withdrawn.', { role: roleLabel(role) })));
        withdraw.disabled = true;
        announce(t('{role}: link withdrawn.', { role: roleLabel(role) }));
      } catch (err) {
        showError(error, err);
      }
    },
  }, t('Withdraw')));
  const reissue = el('button', {
    type: 'button', class: 'secondary', testid: `reissue-${role}`,
    onclick: async () => {
      const answer = await askDialog({
        title: t('A new {role} link?', { role: roleLabel(role) }),
        text: t('The current link stops working at once; send the new one only to the person who needs it.'),
        confirm: t('New link'), testid: 'reissue-dialog',
      });
      if (answer === null || !token) return;
      showError(error, null);
      try {
        const issued = await reissueGrant(grant, token);
        grant = issued.grant.id;
        fill(fieldSlot, copyField(roleLabel(role), issued.link, id));
        withdraw.disabled = false;
        announce(t('{role}: new link ready.', { role: roleLabel(role) }));
      } catch (err) {
        showError(error, err);
      }
    },
  }, t('New link'));
  return el('div', { class: 'link-row', testid: `link-row-${role}` },
    fieldSlot, el('p', { class: 'actions' }, withdraw, reissue), error);
}
