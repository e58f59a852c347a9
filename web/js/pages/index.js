// @ts-check
/** The home page: events and their public sessions, each with its state and a Join link. */

import { t } from '../i18n.js';
import { getEvent, listEvents } from '../protocol/http.js';
import { sessionPath } from '../route.js';
import { byId, el, errorNode, fill, formatSlot, showError, stateBadge, userText } from '../ui.js';

const root = byId('events');

load();

async function load() {
  root.setAttribute('aria-busy', 'true');
  try {
    const { events } = await listEvents();
    if (!events.length) {
      fill(root, el('p', { class: 'muted' }, t('No events yet.')));
      return;
    }
    // One request per event, in parallel; an event that fails to load says so and the others still show.
    const details = await Promise.allSettled(events.map((event) => getEvent(event.id)));
    fill(root, events.map((event, i) => eventSection(event, details[i])));
  } catch (err) {
    const error = errorNode();
    showError(error, err);
    fill(root, error, el('button', { type: 'button', onclick: load }, t('Try again')));
  } finally {
    root.removeAttribute('aria-busy');
  }
}

/**
 * @param {import('../protocol.js').HemicycleEvent} event
 * @param {PromiseSettledResult<{event: import('../protocol.js').HemicycleEvent, sessions: import('../protocol.js').Session[]}>} detail
 */
function eventSection(event, detail) {
  const headingId = `event-${event.id}`;
  /** @type {HTMLElement} */
  let body;
  if (detail.status === 'rejected') {
    body = errorNode();
    showError(body, detail.reason);
  } else if (!detail.value.sessions.length) {
    body = el('p', { class: 'muted' }, t('No public sessions yet.'));
  } else {
    body = el('ul', { class: 'session-list' }, detail.value.sessions.map((session) => sessionItem(session, event)));
  }
  return el('section', { class: 'event', testid: 'event', dataset: { eventId: String(event.id) },
    'aria-labelledby': headingId },
  el('h2', { id: headingId, dir: 'auto' }, event.title),
  event.venue ? el('p', { class: 'event-venue' }, userText(event.venue)) : null,
  body);
}

/**
 * @param {import('../protocol.js').Session} session
 * @param {import('../protocol.js').HemicycleEvent} event
 */
function sessionItem(session, event) {
  const titleId = `session-${session.id}`;
  return el('li', { class: 'session-item', testid: 'session-item', dataset: { sessionId: String(session.id) } },
    el('div', { class: 'session-heading' },
      el('h3', { id: titleId, dir: 'auto' }, session.title), stateBadge(session.state)),
    el('p', { class: 'session-meta' },
      session.ref ? el('span', { class: 'session-ref', dir: 'auto' }, session.ref) : null,
      session.room ? el('span', { class: 'session-room' }, userText(session.room)) : null, // the name says "Room"
      el('span', {}, formatSlot(session, event.timezone))),
    el('p', { class: 'actions' },
      el('a', { class: 'button', href: sessionPath(session.id), testid: 'join', 'aria-describedby': titleId }, t('Join'))));
}
