// @ts-check
/**
 * The attendee's page (/s/{session id}): register once per event, then follow the session — its state and
 * who is following, live.
 */

import {
  AGE_BAND_LABELS, GENDER_LABELS, GROUP_LABELS, countriesByName, countryName, groupLabel, stateLabel,
} from '../labels.js';
import { register } from '../protocol.js';
import { SessionPage } from '../session-page.js';
import { attendeeTokenKey, forgetToken, saveToken, tokenFor } from '../tokens.js';
import {
  PresenceCounts, byId, el, errorNotice, fill, plural, refusalAdvice, showError, throttledAnnouncer, userText,
} from '../ui.js';

/** The form's fields, in order; `details.field` from the server names one of them. */
const FIELDS = ['display_name', 'affiliation', 'stakeholder_group', 'country', 'consent_demographics', 'gender',
  'age_band'];

/** Field names the server may use for a form field under another name. */
const FIELD_ALIASES = /** @type {Record<string, string>} */ ({ consent: 'consent_demographics' });

/** @type {Record<string, string>} */
const STATE_EXPLAINERS = {
  scheduled: 'This session has not started yet. Keep this page open: it changes as soon as the session goes live.',
  live: 'This session is live.',
  ended: 'This session has ended.',
};

const page = new SessionPage({ pageName: 'Attendee', role: 'attendee', attendee: true });
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

/** @type {string | null} */
let tokenKey = null;
/** @type {number | string | null} */
let eventId = null;
/** @type {import('../protocol.js').Me | import('../protocol.js').Participant | null} */
let lastMe = null;

fillOptions();
start();

async function start() {
  const loaded = await page.loadPublic();
  if (!loaded) return;
  eventId = loaded.event?.id ?? loaded.session.event_id;
  tokenKey = attendeeTokenKey(eventId);
  const token = tokenFor(tokenKey);
  if (token) follow(token);
  else showForm();
}

// --- registration ---------------------------------------------------------------------------------------

function fillOptions() {
  const options = (/** @type {Record<string, string>} */ labels) =>
    Object.entries(labels).map(([value, label]) => el('option', { value }, label));
  byId('stakeholder_group').append(...options(GROUP_LABELS));
  byId('gender').append(...options(GENDER_LABELS));
  byId('age_band').append(...options(AGE_BAND_LABELS));
  // value = the code (what the server takes), label = the name (what people type): browsers match both.
  byId('countries').append(...countriesByName().map(({ code, name }) => el('option', { value: code, label: name })));
  consent.addEventListener('change', syncConsent);
  syncConsent();
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
  const match = countriesByName().find(({ name }) => name.localeCompare(text, 'en', { sensitivity: 'base' }) === 0);
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
  if (!body.display_name) missing.push(['display_name', 'Enter your name.']);
  if (!body.affiliation) missing.push(['affiliation', 'Enter your affiliation.']);
  if (!body.stakeholder_group) missing.push(['stakeholder_group', 'Choose your stakeholder group.']);
  if (!body.country) missing.push(['country', 'Choose your country.']);
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
  submit.textContent = 'Registering…';
  try {
    const { token, participant } = await register(eventId, body);
    saveToken(tokenKey, token);
    lastMe = participant;
    registerSection.hidden = true;
    follow(token);
  } catch (err) {
    const error = /** @type {import('../protocol.js').ProtocolError} */ (err);
    const field = error.field ? (FIELD_ALIASES[error.field] ?? error.field) : null;
    if (field && FIELDS.includes(field)) {
      setFieldError(field, error.message);
      if (field === 'gender' || field === 'age_band') {
        consent.checked = true;
        syncConsent();
      }
      byId(field).focus();
    } else {
      showError(formError, err);
      formError.focus();
    }
  } finally {
    submit.disabled = false;
    submit.textContent = 'Register and follow';
  }
});

// --- following --------------------------------------------------------------------------------------------

/** @param {string} token */
function follow(token) {
  if (tokenKey === null) return;
  registerSection.hidden = true;
  const client = page.connect({ token, tokenKey, onRefused: showRefusal });
  client.on('welcome', () => {
    lastMe = client.me;
    followSection.hidden = false;
    renderState();
    counts.update(client.presence);
    renderMe();
  });
  client.on('session:state', renderState);
  client.on('presence', (summary) => {
    counts.update(summary);
    announcePresence(`${plural(summary.total, 'person', 'people')} connected.`);
  });
}

function renderState() {
  const state = page.client?.session?.state ?? page.session?.state ?? '';
  const explainer = byId('state-explainer');
  explainer.dataset.state = state;
  explainer.textContent = STATE_EXPLAINERS[state] ?? stateLabel(state);
}

function renderMe() {
  const me = page.client?.me;
  if (!me) return;
  fill(byId('me-line'), 'You are following as ', userText(me.display_name, 'person-name', 'strong'),
    ` (${[groupLabel(me.stakeholder_group), countryName(me.country)].filter(Boolean).join(', ')}).`);
}

/** @param {{code: string, message: string}} refusal */
function showRefusal(refusal) {
  followSection.hidden = true;
  const advice = refusalAdvice(refusal.code, { attendee: true });
  page.showNotice(errorNotice(refusal.code, advice.title, advice.text,
    el('button', { type: 'button', onclick: () => registerAgain() }, 'Register again')));
}

/**
 * Forget the stored token and show the form.
 * @param {{samePerson?: boolean}} [options]  false when someone else uses this device: forget their details too
 */
function registerAgain({ samePerson = true } = {}) {
  if (tokenKey) forgetToken(tokenKey);
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
