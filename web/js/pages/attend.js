// @ts-check
/**
 * The attendee's page (/s/{session id}): register once per event, then follow the session — its state, who
 * has the floor and who is next, who is following — and ask for the floor: raise a hand, see one's place in
 * line, lower it; when given the floor, see the time left and finish the turn. Questions: ask, follow one's
 * own, vote for others' (js/pages/attend-questions.js).
 */

import { CaptionView } from '../caption-ui.js';
import { FloorView, placeText, queueErrorText } from '../floor-ui.js';
import { HelpPanel } from '../help-ui.js';
import { msg, language as pageLanguage, renderOnLanguageChange, t, tn } from '../i18n.js';
import { AttendeeMedia } from './attend-media.js';
import { AttendeeQuestions } from './attend-questions.js';
import { statementControl } from './booth-statements.js';
import { AttendeePolls } from '../poll-ui.js';
import {
  AGE_BAND_LABELS, GENDER_LABELS, GROUP_LABELS, TYPE_LABELS, countriesByName, countryName, groupLabel,
  languageLabel, ordinal, stateLabel, typeLabel,
} from '../labels.js';
import { browserId, register } from '../protocol/http.js';
import { SessionPage } from '../session-page.js';
import { attendeeTokenKey, forgetToken, saveToken, tokenFor } from '../tokens.js';
import {
  PresenceCounts, announce, byId, el, errorNode, errorNotice, fill, notice, refusalAdvice, showError,
  throttledAnnouncer, userText,
} from '../ui.js';

/** The form's fields, in order; `details.field` from the server names one of them. */
const FIELDS = ['display_name', 'affiliation', 'stakeholder_group', 'country', 'consent_demographics', 'gender',
  'age_band'];

/**
 * What to do about a field the server refused, in the reader's language (the server's message is English and
 * names the field by its code).
 * @type {Record<string, import('../i18n.js').Message>}
 */
const FIELD_ADVICE = {
  display_name: msg('Enter your name: letters, in any script, at most 120 characters, without control characters.'),
  affiliation: msg('Enter your affiliation: letters, in any script, at most 200 characters, without control characters.'),
  stakeholder_group: msg('Choose your stakeholder group.'),
  country: msg('Choose a country from the list, or type its two-letter ISO code.'),
  consent_demographics: msg('Gender and age band can be given only with your consent.'),
  gender: msg('Choose one of the options, or “Prefer not to say”.'),
  age_band: msg('Choose one of the options, or “Prefer not to say”.'),
};

/** Field names the server may use for a form field under another name. */
const FIELD_ALIASES = /** @type {Record<string, string>} */ ({ consent: 'consent_demographics' });

/** @type {Record<string, import('../i18n.js').Message>} */
const STATE_EXPLAINERS = {
  scheduled: msg('This session has not started yet. Keep this page open: it changes as soon as the session goes live.'),
  live: msg('This session is live.'),
  ended: msg('This session has ended.'),
};

const page = new SessionPage({ pageName: msg('Attendee'), role: 'attendee', attendee: true });
const form = /** @type {HTMLFormElement} */ (byId('register-form'));
const registerSection = byId('register');
const followSection = byId('follow');
const formError = byId('form-error');
const submit = /** @type {HTMLButtonElement} */ (byId('register-submit'));
const consent = /** @type {HTMLInputElement} */ (byId('consent_demographics'));
const demographics = byId('demographics');
const counts = new PresenceCounts(byId('presence'), {
  roles: false, groups: true, remote: true,
});
const announcePresence = throttledAnnouncer(30_000);
const floorSection = byId('floor-section');
const floorView = new FloorView({ next: 2 });
fill(byId('floor-view'), floorView.node);
const hand = buildHandPanel(byId('my-request'));
const questionsSection = byId('questions-section');
const questions = new AttendeeQuestions(byId('questions'), () => page.client);
const mediaSection = byId('media-section');
const media = new AttendeeMedia(byId('media'), () => page.client, {
  // The floor panel's button does it (and says so afterwards): one way to finish, two places to press it.
  finish: () => /** @type {HTMLElement | null} */ (byId('my-request').querySelector('[data-testid="finish-turn"]'))?.click(),
});
// Live captions right under the video (above its controls), in a polite live region, with their own choice
// of language.
const captions = new CaptionView({ lines: 3 });
media.player.after(fill(byId('captions-view'), captions.node));
// The help desk (issue 24): a private request to the AV technicians and moderators, with this page's figures.
const helpSection = byId('help-section');
const help = new HelpPanel(byId('help'), () => page.client, () => media.figures());

// Live polls (issue 24): made for each connection, shown once a poll is opened.
/** @type {AttendeePolls | null} */
let polls = null;

/** @type {string | null} */
let tokenKey = null;
/** @type {number | string | null} */
let eventId = null;
/** @type {import('../protocol.js').Me | import('../protocol.js').Participant | null} */
let lastMe = null;

fillOptions();
start();
// A change of the page's language: the words are computed again; the feed, the microphone and the form's
// contents stay as they are.
renderOnLanguageChange(() => {
  fillChoices();
  hand.relabel();
  renderState();
  renderMe();
  renderMine(null);
  questions.update();
  media.relabel();
  help.update();
  polls?.render();
});

async function start() {
  // A non-public session is shown only to attendees admitted to it; its attendee link names its event
  // (`?event=`), so that anyone else may still register there and wait to be let in.
  const linked = new URLSearchParams(window.location.search).get('event');
  const linkedEvent = linked && /^[0-9]{1,12}$/.test(linked) ? linked : null;
  const linkedToken = linkedEvent ? tokenFor(attendeeTokenKey(linkedEvent)) : null;
  // Without a token there is nothing to read yet: the form first, the session once the connection is in.
  const loaded = linkedEvent && !linkedToken ? null : await page.loadPublic(linkedToken);
  if (!loaded && !linkedEvent) return;
  if (!loaded) page.showNotice(null); // not shown yet: the waiting room, or the welcome, will say more
  eventId = loaded ? (loaded.event?.id ?? loaded.session.event_id) : linkedEvent;
  if (eventId === null) return;
  tokenKey = attendeeTokenKey(eventId);
  const token = tokenFor(tokenKey);
  if (token) follow(token);
  else showForm();
}

// --- registration ---------------------------------------------------------------------------------------

function fillOptions() {
  fillChoices();
  consent.addEventListener('change', syncConsent);
  syncConsent();
}

/** The form's choices in the reader's language (again after a change of it), keeping what was chosen. */
function fillChoices() {
  const options = (/** @type {string} */ id, /** @type {Record<string, string>} */ labels) => {
    const select = /** @type {HTMLSelectElement} */ (byId(id));
    const chosen = select.value;
    // The first option ("Choose…", "Prefer not to say") is the HTML's own, translated with the page.
    fill(select, select.options[0], Object.entries(labels).map(([value, label]) => el('option', { value }, label)));
    select.value = chosen;
  };
  options('stakeholder_group', GROUP_LABELS);
  options('gender', GENDER_LABELS);
  options('age_band', AGE_BAND_LABELS);
  // value = the code (what the server takes), label = the name (what people type): browsers match both.
  fill(byId('countries'), countriesByName().map(({ code, name }) => el('option', { value: code, label: name })));
}

/** Gender and age band are offered only with consent; without it they are cleared, not just hidden. */
function syncConsent() {
  demographics.hidden = !consent.checked;
  consent.setAttribute('aria-expanded', String(consent.checked));
  if (!consent.checked) {
    /** @type {HTMLSelectElement} */ (byId('gender')).value = '';
    /** @type {HTMLSelectElement} */ (byId('age_band')).value = '';
  }
}

function showForm() {
  page.client?.close();
  page.client = null;
  page.banner.update('idle');
  followSection.hidden = true;
  registerSection.hidden = false;
  if (lastMe) {
    // Registering again after an expired or withdrawn token: start from what the person gave before.
    /** @type {HTMLInputElement} */ (byId('display_name')).value = lastMe.display_name ?? '';
    /** @type {HTMLInputElement} */ (byId('affiliation')).value = lastMe.affiliation ?? '';
    /** @type {HTMLSelectElement} */ (byId('stakeholder_group')).value = lastMe.stakeholder_group ?? '';
    /** @type {HTMLInputElement} */ (byId('country')).value = lastMe.country ?? '';
  }
}

/** @param {string} field */
function fieldError(field) {
  return byId(`${FIELD_ALIASES[field] ?? field}-error`);
}

function clearErrors() {
  showError(formError, null);
  for (const field of FIELDS) {
    showError(fieldError(field), null);
    byId(field).removeAttribute('aria-invalid');
  }
}

/**
 * @param {string} field
 * @param {string} message
 */
function setFieldError(field, message) {
  const name = FIELD_ALIASES[field] ?? field;
  showError(fieldError(name), message);
  byId(name).setAttribute('aria-invalid', 'true');
}

/**
 * The ISO code for what was typed: a code ("ke" → "KE") or a name from the list ("Kenya" → "KE"). Anything else
 * is sent as typed, and the server says what is wrong with it.
 * @param {string} typed
 */
function countryCode(typed) {
  const text = typed.trim();
  if (/^[a-z]{2}$/i.test(text)) return text.toUpperCase();
  const match = countriesByName().find(({ name }) => name.localeCompare(text, undefined, { sensitivity: 'base' }) === 0);
  return match ? match.code : text;
}

/** @returns {import('../protocol.js').Registration} */
function readForm() {
  const value = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ (byId(id)).value;
  /** @type {any} */
  const body = {
    display_name: value('display_name').trim(),
    affiliation: value('affiliation').trim(),
    stakeholder_group: value('stakeholder_group'),
    country: countryCode(value('country')),
    consent_demographics: consent.checked,
  };
  if (consent.checked) {
    if (value('gender')) body.gender = value('gender');
    if (value('age_band')) body.age_band = value('age_band');
  }
  return body;
}

/**
 * The checks a browser can make; the server checks everything again.
 * @param {import('../protocol.js').Registration} body
 * @returns {[string, string][]}
 */
function missingFields(body) {
  /** @type {[string, string][]} */
  const missing = [];
  if (!body.display_name) missing.push(['display_name', t('Enter your name.')]);
  if (!body.affiliation) missing.push(['affiliation', t('Enter your affiliation.')]);
  if (!body.stakeholder_group) missing.push(['stakeholder_group', t('Choose your stakeholder group.')]);
  if (!body.country) missing.push(['country', t('Choose your country.')]);
  return missing;
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (eventId === null || tokenKey === null) return;
  clearErrors();
  const body = readForm();
  const missing = missingFields(body);
  if (missing.length) {
    for (const [field, message] of missing) setFieldError(field, message);
    byId(missing[0][0]).focus();
    return;
  }
  submit.disabled = true;
  submit.textContent = t('Registering…');
  try {
    // The browser id only lets moderators recognise someone banned who registers again.
    const id = browserId();
    const { token, participant } = await register(eventId, /** @type {any} */ (id ? { ...body, browser_id: id } : body));
    saveToken(tokenKey, token);
    lastMe = participant;
    registerSection.hidden = true;
    follow(token);
  } catch (err) {
    const error = /** @type {import('../protocol.js').ProtocolError} */ (err);
    const field = error.field ? (FIELD_ALIASES[error.field] ?? error.field) : null;
    if (field && FIELDS.includes(field)) {
      setFieldError(field, String(FIELD_ADVICE[field] ?? error.message));
      if (field === 'gender' || field === 'age_band') {
        consent.checked = true;
        syncConsent();
      }
      byId(field).focus();
    } else if (error.code === 'rate_limited' && error.details?.retry_after) {
      // Registrations are limited per browser and network: say how long, which can be minutes, not seconds.
      const minutes = Math.max(1, Math.ceil(Number(error.details.retry_after) / 60));
      showError(formError, { code: error.code, message: tn(minutes,
        'Too many registrations from this browser or network. Try again in {count} minute.',
        'Too many registrations from this browser or network. Try again in {count} minutes.') });
      formError.focus();
    } else {
      showError(formError, err);
      formError.focus();
    }
  } finally {
    submit.disabled = false;
    submit.textContent = t('Register and follow');
  }
});

// --- following --------------------------------------------------------------------------------------------

/** @param {string} token */
function follow(token) {
  if (tokenKey === null) return;
  registerSection.hidden = true;
  const client = page.connect({ token, tokenKey, onRefused: showRefusal });
  polls = new AttendeePolls(byId('polls'), client, byId('polls-section'));
  client.on('welcome', () => {
    lastMe = client.me;
    followSection.hidden = false;
    floorSection.hidden = false;
    renderState();
    counts.update(client.presence);
    renderMe();
    hand.fillLanguages(client.session?.languages ?? []);
    renderFloor();
    renderMine(null);
    questionsSection.hidden = false;
    questions.update();
    mediaSection.hidden = false;
    media.onMine();
    client.refreshOnAir().catch(() => {}); // not known: every channel stays offered
    media.resumeWatching();
    media.startByItself(client.session?.state === 'live');
    captions.reset(client, pageLanguage().code);
    helpSection.hidden = false;
    help.update();
  });
  client.on('help', () => help.update());
  client.on('caption', ({ caption }) => captions.add(caption));
  client.on('session:state', () => {
    renderState();
    renderMine(null);
    questions.update();
    media.startByItself(client.session?.state === 'live');
  });
  client.on('media:channels', ({ onAir }) => media.setOnAir(onAir));
  client.on('floor', () => {
    renderFloor();
    media.onMine(); // the speaker's own countdown follows time added or taken away
  });
  client.on('queue:mine', ({ previous }) => {
    renderMine(previous);
    media.onMine();
  });
  client.on('questions:public', () => questions.onPublic());
  client.on('questions:mine', () => questions.onMine());
  client.on('connection', () => {
    hand.sync();
    questions.update();
  });
  client.on('presence', (summary) => {
    counts.update(summary);
    announcePresence(tn(summary.total, '{count} person connected.', '{count} people connected.'));
  });
  followModeration(client);
}

// --- the waiting room, removal, mutes ------------------------------------------------------------------------

/** @param {import('../protocol.js').HemicycleClient} client */
function followModeration(client) {
  const hideSession = () => {
    followSection.hidden = true;
    floorSection.hidden = true;
    questionsSection.hidden = true;
    helpSection.hidden = true;
  };
  client.on('waiting', (waiting) => {
    hideSession();
    if (waiting?.session) page.setSession(waiting.session, waiting.event ?? null);
    // The server's message is in English: the page says the same in the reader's language.
    const node = notice(t('You are in the waiting room'),
      t('This session has a waiting room: a moderator will let you in shortly. This page updates by itself.'));
    node.dataset.testid = 'waiting-room';
    page.showNotice(node);
    announce(t('You are in the waiting room. A moderator will let you in shortly.'));
  });
  client.on('moderation:admitted', () => announce(t('A moderator let you in.')));
  client.on('moderation:removed', (removal) => {
    hideSession();
    if (removal.banned) rememberBan(removal.reason ?? '');
    const title = removal.banned ? t('You have been banned from this event') : t('You have been removed from this session');
    const text = removal.reason
      ? t('The moderators gave this reason: {reason}', { reason: removal.reason })
      : t('The moderators removed you.');
    page.showNotice(errorNotice(removal.banned ? 'banned' : 'removed', title, text,
      removal.banned ? null : el('span', { class: 'muted' },
        t('If you connect again, you will wait until a moderator lets you in.'))));
    const shown = page.notices.querySelector('[data-code]');
    if (shown instanceof HTMLElement) shown.dataset.testid = 'removed-notice';
  });
  client.on('moderation:muted', (muted) => {
    // Said in the speaker's own panel (an alert there, read at once); the page's notice keeps it for later.
    const lines = media.onModeratorMute(muted);
    if (!lines.length) return;
    const node = notice(t('Microphone and camera'), lines.join(' '));
    node.dataset.testid = 'muted-notice';
    page.showNotice(node, { focus: false });
    if (media.speak.hidden) announce(lines.join(' '));
  });
}

// --- the floor and my request -------------------------------------------------------------------------------

/** What I did last, so the next `queue:mine` can be explained ("You lowered your hand" vs. "from another tab"). */
/** @type {'raise' | 'lower' | 'finish' | null} */
let lastAction = null;

/** My request while it was queued or speaking, to explain its end when `mine.last` names it. */
/** @type {{id: number, state: string} | null} */
let activeEntry = null;

/** How a turn ended, in words (`end_reason`). */
/** @type {Record<string, import('../i18n.js').Message>} */
const TURN_ENDED = {
  finished: msg('Your turn has ended. Thank you.'), // by the moderators or chair, or from another tab: `last` does not say
  revoked: msg('Your turn ended: the moderators took the floor back (revoked).'),
  time_up: msg('Your turn ended: time up.'),
  disconnected: msg('Your turn ended: your connection was lost for too long.'),
  replaced: msg('Your turn ended: the floor was given to the next speaker.'),
};

/**
 * Why my hand went down or my turn ended, from `mine.last`.
 * @param {import('../protocol.js').MineLast} last
 * @param {string} wasState   queued or speaking, as this page last saw the request
 */
function endedText(last, wasState) {
  if (last.state === 'withdrawn') {
    return lastAction === 'lower' ? t('You lowered your hand.') : t('You lowered your hand from another tab or device.');
  }
  if (last.state === 'removed') {
    // "no longer raised" first: the request was taken off the list by someone else.
    return last.removed_reason
      ? t('Your hand is no longer raised. The moderators removed your request: {reason}', { reason: last.removed_reason })
      : t('Your hand is no longer raised. The moderators removed your request.');
  }
  if (last.end_reason === 'finished' && lastAction === 'finish') return t('You finished your turn. Thank you.');
  const ended = TURN_ENDED[last.end_reason ?? ''];
  if (ended) return String(ended);
  return wasState === 'speaking' ? t('Your turn has ended. Thank you.') : t('Your hand is no longer raised.');
}

function renderFloor() {
  const client = page.client;
  if (!client) return;
  floorView.mineId = client.mine?.entry?.id ?? null; // "You have the floor" is said by renderMine
  floorView.update(client.floor, client.floorReceivedAt);
  const mineSpeaking = client.mine?.entry?.state === 'speaking';
  const speakingId = client.floor?.speaking?.id;
  const me = mineSpeaking && (speakingId === undefined || speakingId === client.mine?.entry?.id);
  floorView.label.textContent = me ? t('You have the floor') : t('Now speaking');
  floorView.node.classList.toggle('floor-mine', !!me);
  floorView.countdown.announcePhases = !!me;
}

/**
 * @param {import('../protocol.js').Mine | null} previous   the request before this update, to say what changed
 */
function renderMine(previous) {
  const client = page.client;
  if (!client) return;
  const mine = client.mine;
  const entry = mine?.entry ?? null;
  hand.render(mine, client.session?.state ?? 'scheduled');
  renderFloor();
  const title = t('{session} — Attendee — Hemicycle', { session: client.session?.title ?? t('Session') });
  document.title = entry?.state === 'speaking' ? t('▶ You have the floor — {title}', { title }) : title;
  // Why the hand went down, from the server's `last` — also after a reconnection, if it went down meanwhile.
  if (entry) {
    activeEntry = { id: entry.id, state: entry.state };
  } else if (activeEntry && mine?.last && mine.last.id === activeEntry.id) {
    const text = endedText(mine.last, activeEntry.state);
    announce(text);
    hand.status(text);
    activeEntry = null;
  }
  if (!previous) return;
  const before = previous.entry;
  if (entry?.state === 'speaking' && before?.state !== 'speaking') {
    const seconds = mine?.timer?.allowed_seconds;
    announce(seconds
      ? tn(Math.round(seconds / 60 * 10) / 10, 'You have the floor, for {count} minute. Speak now.',
        'You have the floor, for {count} minutes. Speak now.')
      : t('You have the floor. Speak now.'));
  } else if (!entry && before && !mine?.last) {
    // An older server without `last`: say what can be said.
    const text = before.state === 'speaking' ? t('Your turn has ended. Thank you.')
      : lastAction === 'lower' ? t('You lowered your hand.') : t('Your hand is no longer raised.');
    announce(text);
    hand.status(text);
  } else if (entry?.state === 'queued' && mine?.place && mine.place !== previous.place) {
    announce(before ? t('You are now {place} in line of {length}.', { place: ordinal(mine.place), length: mine.length })
      : t('Your hand is raised. {place}.', { place: placeText(mine.place, mine.length) }));
  }
  if (mine?.version !== previous.version) lastAction = null;
}

/**
 * The "Ask for the floor" part: a form while no hand is raised, the place in line while it is, the turn's
 * controls while the floor is mine. Built once; `render` shows the right part.
 * @param {HTMLElement} container
 */
function buildHandPanel(container) {
  const typeSelect = /** @type {HTMLSelectElement} */ (el('select', { id: 'hand-type', name: 'type' }));
  const fillTypes = () => {
    const chosen = typeSelect.value;
    fill(typeSelect, Object.entries(TYPE_LABELS).map(([value, label]) => el('option', { value }, label)));
    if (chosen) typeSelect.value = chosen;
  };
  fillTypes();
  const languageSelect = /** @type {HTMLSelectElement} */ (el('select', {
    id: 'hand-language', name: 'language', 'aria-describedby': 'hand-language-hint',
  }));
  const raise = /** @type {HTMLButtonElement} */ (el('button', { type: 'submit', testid: 'raise-hand' }, msg('Ask for the floor')));
  const closed = el('p', { class: 'muted hand-closed' });
  const form = /** @type {HTMLFormElement} */ (el('form', { class: 'hand-form', testid: 'hand-form', novalidate: true },
    el('div', { class: 'field' },
      el('label', { for: 'hand-type' }, msg('Type of intervention')),
      typeSelect,
      el('p', { class: 'hint' },
        msg('Points of order go to the head of the line, rights of reply right after them; the moderators may reorder it.'))),
    el('div', { class: 'field' },
      el('label', { for: 'hand-language' }, msg('Language you will speak')),
      languageSelect,
      el('p', { id: 'hand-language-hint', class: 'hint' }, msg('So the interpreters can get ready.'))),
    el('p', { class: 'actions' }, raise),
    closed));

  const placeNumber = el('strong', { class: 'my-place-number' });
  const place = el('p', { class: 'my-place', testid: 'my-place' });
  const requestLine = el('p', { class: 'muted' });
  const lower = /** @type {HTMLButtonElement} */ (el('button', { type: 'button', class: 'secondary', testid: 'lower-hand' },
    msg('Lower my hand')));
  const queued = el('div', { class: 'my-queued' },
    place, requestLine,
    el('p', { class: 'hint' }, msg('Keep this page open: you will see here when you are given the floor.')),
    el('p', { class: 'actions' }, lower));

  const finish = /** @type {HTMLButtonElement} */ (el('button', { type: 'button', class: 'danger', testid: 'finish-turn' },
    msg('Finish my turn')));
  const turn = el('div', { class: 'my-turn', testid: 'my-turn' },
    el('p', { class: 'my-turn-text' }, msg('Speak now. Watch the time left above, and finish your turn when you are done.')),
    el('p', { class: 'actions' }, finish));

  const heading = el('h3', { id: 'my-request-heading' }, msg('Ask for the floor'));
  const error = errorNode();
  const statusLine = el('p', { class: 'muted my-status', role: 'status' });
  // Statements in advance (issue 21): the text of my statement, for the interpreters and the captioner.
  const statementSlot = el('div', { class: 'my-statement', testid: 'my-statement' });
  /** @type {string | null} the request the slot's control sends for, and what is attached to it */
  let statementFor = null;
  fill(container, heading, form, queued, turn, statementSlot, error, statusLine);
  container.setAttribute('role', 'region');
  container.setAttribute('aria-labelledby', 'my-request-heading');
  queued.hidden = true;
  turn.hidden = true;

  let busy = false;
  /** @type {string[]} the session's languages, offered for the intervention */
  let offered = [];
  /** @type {import('../protocol.js').Mine | null} */
  let shown = null;
  let sessionState = 'scheduled';
  let shownSituation = '';
  /** @type {HTMLElement | null} where keyboard focus goes once it can: the button that undoes what was done */
  let focusNext = null;

  /**
   * Run one request; errors go to the panel in words.
   * @param {'raise' | 'lower' | 'finish'} action
   * @param {() => Promise<unknown>} run
   */
  async function act(action, run) {
    if (busy) return;
    busy = true;
    lastAction = action;
    showError(error, null);
    statusLine.textContent = '';
    sync();
    try {
      await run();
    } catch (err) {
      const e = /** @type {any} */ (err);
      lastAction = null;
      showError(error, { code: e.code, message: queueErrorText(e) });
    } finally {
      busy = false;
      sync();
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const client = page.client;
    if (!client) return;
    act('raise', async () => {
      await client.raiseHand({ type: /** @type {any} */ (typeSelect.value), language: languageSelect.value });
      focusNext = lower;
    });
  });
  lower.addEventListener('click', () => {
    const client = page.client;
    if (!client) return;
    act('lower', async () => {
      await client.lowerHand();
      focusNext = raise;
    });
  });
  finish.addEventListener('click', () => {
    const client = page.client;
    const entry = client?.mine?.entry;
    if (!client || !entry) return;
    act('finish', () => client.endFloor(entry.id));
  });

  /** Enable what can be used now. */
  function sync() {
    const connected = page.client?.connection === 'connected';
    const open = sessionState !== 'ended';
    raise.disabled = busy || !connected || !open || !languageSelect.value;
    typeSelect.disabled = !open;
    languageSelect.disabled = !open;
    lower.disabled = busy || !connected;
    finish.disabled = busy || !connected;
    raise.textContent = busy && !shown?.entry ? t('Asking…') : t('Ask for the floor');
    closed.textContent = !open ? t('The session has ended: the list of speakers is closed.')
      : sessionState === 'scheduled' ? t('The session has not started yet: you can already ask for the floor.')
        : !connected ? t('Not connected: wait until the connection is back.') : '';
    closed.hidden = !closed.textContent;
    // The button pressed is now hidden, and the one to go to is enabled and shown only once the request is over
    // and the server's update has come, in either order: move focus then, unless it has gone elsewhere.
    if (focusNext && !focusNext.hasAttribute('disabled') && focusNext.offsetParent) {
      const active = document.activeElement;
      if (!active || active === document.body || container.contains(active)) focusNext.focus();
      focusNext = null;
    }
  }

  return {
    sync,
    /** @param {string} text */
    status(text) { statusLine.textContent = text; },
    /** The words again, in the page's new language; what was chosen stays chosen. */
    relabel() {
      statementFor = null; // the attach control again, in the new words
      fillTypes();
      this.fillLanguages(offered);
      this.render(shown, sessionState);
    },
    /** @param {string[]} languages */
    fillLanguages(languages) {
      offered = languages;
      const current = languageSelect.value;
      const preferred = (navigator.language || 'en').slice(0, 2).toLowerCase();
      fill(languageSelect, languages.map((code) => el('option', { value: code, lang: code }, languageLabel(code, { native: true }))));
      languageSelect.value = languages.includes(current) ? current
        : languages.includes(preferred) ? preferred : languages.includes('en') ? 'en' : (languages[0] ?? '');
      sync();
    },
    /**
     * @param {import('../protocol.js').Mine | null} mine
     * @param {string} state   the session's state
     */
    render(mine, state) {
      const entry = mine?.entry ?? null;
      // An error about an earlier situation no longer holds once the session or the request has changed.
      const situation = `${state}/${entry?.id ?? ''}/${entry?.state ?? ''}`;
      if (situation !== shownSituation && !busy) showError(error, null);
      shownSituation = situation;
      shown = mine;
      sessionState = state;
      const speaking = entry?.state === 'speaking';
      const waiting = entry?.state === 'queued';
      form.hidden = !!entry;
      queued.hidden = !waiting;
      turn.hidden = !speaking;
      heading.textContent = speaking ? t('Your turn') : waiting ? t('Your hand is raised') : t('Ask for the floor');
      if (waiting && mine) {
        const at = mine.place ?? 0;
        place.dataset.place = String(at);
        placeNumber.textContent = ordinal(at);
        // One message, cut around the place so the number can stand out: "You are {place} in line of {length}".
        const [before, after] = t('You are {place} in line of {length}', { length: mine.length }).split('{place}');
        fill(place, before, placeNumber, after ?? '');
        requestLine.textContent = t('{type}, in {language}.', {
          type: typeLabel(entry?.type), language: languageLabel(entry?.language),
        });
      } else {
        delete place.dataset.place;
      }
      if (entry) statusLine.textContent = '';
      const current = entry && (waiting || speaking) && page.client ? entry.id : null;
      // The request, and what the server says is attached to it (kind and name): drawn again when either
      // changes, so a page loaded again shows the statement already sent.
      const attached = current === null ? null : mine?.statement ?? null;
      const key = current === null ? null : `${current}/${attached?.kind ?? ''}/${attached?.name ?? ''}`;
      if (key !== statementFor) {
        statementFor = key;
        fill(statementSlot, current === null || !page.client ? [] : [
          el('p', { class: 'hint' }, t('You may send the text of your statement (PDF or plain text) to the interpreters and the captioner. Only they read it.')),
          statementControl(page.client, current, { attached }),
        ]);
      }
      statementSlot.hidden = statementFor === null;
      sync();
    },
  };
}

function renderState() {
  const state = page.client?.session?.state ?? page.session?.state ?? '';
  const explainer = byId('state-explainer');
  explainer.dataset.state = state;
  explainer.textContent = state ? String(STATE_EXPLAINERS[state] ?? stateLabel(state)) : '';
  media.setPoster(page.client?.session?.title ?? page.session?.title ?? '', state ? stateLabel(state) : '');
}

function renderMe() {
  const me = page.client?.me;
  if (!me) return;
  const [before, after] = t('You are following as {name} ({details}).', {
    details: [groupLabel(me.stakeholder_group), countryName(me.country)].filter(Boolean).join(', '),
  }).split('{name}');
  fill(byId('me-line'), before, userText(me.display_name, 'person-name', 'strong'), after ?? '');
}

/**
 * A ban revokes the registration: after a reload the server says only "revoked". The page keeps the ban's reason
 * it was told, so the person still reads why (forgotten when they register again).
 */
const BAN_KEY = 'hemicycle.ban';

/** @param {string} reason */
function rememberBan(reason) {
  try {
    localStorage.setItem(BAN_KEY, JSON.stringify({ event: eventId, reason }));
  } catch {
    // Not kept: the reason was shown; after a reload the page says the registration was withdrawn.
  }
}

/** @returns {{reason: string} | null} */
function rememberedBan() {
  try {
    const ban = JSON.parse(localStorage.getItem(BAN_KEY) ?? 'null');
    return ban && ban.event === eventId ? { reason: String(ban.reason ?? '') } : null;
  } catch {
    return null;
  }
}

/** @param {{code: string, message: string}} refusal */
function showRefusal(refusal) {
  followSection.hidden = true;
  const ban = refusal.code === 'token_revoked' ? rememberedBan() : null;
  const advice = ban
    ? {
      title: t('You have been banned from this event'),
      text: ban.reason
        ? t('The moderators gave this reason: {reason}', { reason: ban.reason })
        : t('The moderators banned you.'),
    }
    : refusalAdvice(refusal.code, { attendee: true });
  page.showNotice(errorNotice(refusal.code, advice.title, advice.text,
    el('button', { type: 'button', onclick: () => registerAgain() }, t('Register again'))));
}

/**
 * Forget the stored token and show the form.
 * @param {{samePerson?: boolean}} [options]  false when someone else uses this device: forget their details too
 */
function registerAgain({ samePerson = true } = {}) {
  if (tokenKey) forgetToken(tokenKey);
  try {
    localStorage.removeItem(BAN_KEY);
  } catch {
    // Nothing was kept.
  }
  if (!samePerson) {
    lastMe = null;
    form.reset();
    syncConsent();
  }
  page.showNotice(null);
  showForm();
  byId('display_name').focus();
}

byId('forget').addEventListener('click', () => registerAgain({ samePerson: false }));
