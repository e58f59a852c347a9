// @ts-check
/**
 * The floor on every page: who speaks, the countdown, who is next. Page layer (touches the DOM); the
 * arithmetic of the countdown is in js/timer.js, the state in HemicycleClient (`client.floor`).
 *
 * Test hooks: `floor-speaker` (the current speaker's name; empty when nobody speaks), `countdown` (with
 * `data-phase`: speaking, ending, over, or idle when nobody speaks), `next-speakers` (the next in line).
 */

import { msg, onLanguageChange, t, tn } from './i18n.js';
import { countryName, groupLabel, languageLabel, ordinal, typeLabel } from './labels.js';
import { Countdown } from './timer.js';
import { announce, el, fill, userText } from './ui.js';

/** How often a running countdown repaints (ms): often enough that seconds never skip. */
const TICK_MS = 250;

// ---------------------------------------------------------------------------------------------------------
// Countdown

/** @type {Record<string, import('./i18n.js').Message>} */
const PHASE_WORDS = {
  speaking: msg('Time left'),
  ending: msg('Ending: please conclude'),
  over: msg('Time is up'),
};

/**
 * A live countdown (`data-testid="countdown"`, `data-phase`). The phase is said in words as well as colour.
 * role="timer" keeps screen readers from reading every second; phase changes are announced once instead.
 */
export class CountdownView {
  /**
   * @param {{large?: boolean, announcePhases?: boolean, label?: string | import('./i18n.js').Message}} [options]
   *   announcePhases: tell screen-reader users when the time is ending and when it is up (the speaker's page)
   */
  constructor({ large = false, announcePhases = false, label = msg('Speaking time') } = {}) {
    this.announcePhases = announcePhases;
    this.clock = el('span', { class: 'countdown-clock' });
    this.words = el('span', { class: 'countdown-words' });
    this.allowed = el('span', { class: 'countdown-allowed' });
    this.node = el('div', {
      class: `countdown${large ? ' countdown-large' : ''}`, testid: 'countdown', role: 'timer',
      'aria-label': label, dataset: { phase: 'idle' },
    }, this.clock, this.words, this.allowed);
    this.node.hidden = true;
    /** @type {Countdown | null} */
    this.countdown = null;
    /** @type {ReturnType<typeof setInterval> | null} */
    this.ticker = null;
    /** @type {string | null} */
    this.phase = null;
    /** @type {import('./protocol.js').Timer | null} */
    this.timer = null;
    onLanguageChange(() => { if (this.timer) this.#showAllowed(this.timer); this.tick(); });
  }

  /**
   * Start (or correct) the countdown from a timer received at `receivedAt`; null stops and hides it.
   * @param {import('./protocol.js').Timer | null | undefined} timer
   * @param {number} [receivedAt]
   */
  set(timer, receivedAt = Date.now()) {
    if (!timer) {
      this.countdown = null;
      this.timer = null;
      this.phase = null;
      if (this.ticker) clearInterval(this.ticker);
      this.ticker = null;
      this.node.hidden = true;
      this.node.dataset.phase = 'idle';
      this.clock.textContent = '';
      this.words.textContent = '';
      this.allowed.textContent = '';
      return;
    }
    const first = !this.countdown;
    this.countdown = new Countdown(timer, receivedAt);
    this.timer = timer;
    if (first) this.phase = null;
    this.node.hidden = false;
    this.#showAllowed(timer);
    this.tick();
    if (!this.ticker) this.ticker = setInterval(() => this.tick(), TICK_MS);
  }

  /** @param {import('./protocol.js').Timer} timer */
  #showAllowed(timer) {
    const minutes = Math.round(timer.allowed_seconds / 60 * 10) / 10;
    this.allowed.textContent = timer.allowed_seconds % 60 === 0
      ? tn(minutes, 'of {count} minute', 'of {count} minutes')
      : t('of {duration}', {
        duration: `${Math.floor(timer.allowed_seconds / 60)}:${String(timer.allowed_seconds % 60).padStart(2, '0')}`,
      });
  }

  tick() {
    if (!this.countdown) return;
    const now = this.countdown.read();
    this.clock.textContent = now.clock;
    this.words.textContent = String(PHASE_WORDS[now.phase]);
    this.node.dataset.phase = now.phase;
    this.node.setAttribute('aria-label', t('Speaking time: {time}', { time: now.spoken }));
    if (now.phase !== this.phase) {
      const before = this.phase;
      this.phase = now.phase;
      if (this.announcePhases && before !== null) {
        if (now.phase === 'ending') announce(t('Please conclude: {time}.', { time: now.spoken }));
        else if (now.phase === 'over') announce(t('Your speaking time is up.'));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Entries

/**
 * "Ministry of ICT · Government · Senegal" as nodes (the affiliation as user text).
 * @param {import('./protocol.js').Entry} entry
 */
export function entryDetails(entry) {
  const parts = [];
  if (entry.affiliation) parts.push(userText(entry.affiliation, 'entry-affiliation'));
  if (entry.stakeholder_group) parts.push(el('span', { class: 'entry-group' }, groupLabel(entry.stakeholder_group)));
  if (entry.country) parts.push(el('span', { class: 'entry-country', title: entry.country }, countryName(entry.country)));
  return parts.flatMap((node, i) => (i ? [' · ', node] : [node]));
}

/**
 * Type, language and, for requests made in the room, a badge.
 * @param {import('./protocol.js').Entry} entry
 */
export function entryTags(entry) {
  return [
    el('span', { class: `tag tag-type tag-${entry.type}` }, typeLabel(entry.type)),
    el('span', { class: 'tag tag-language', dataset: { language: entry.language }, title: t('Will speak {language}', { language: languageLabel(entry.language) }) },
      languageLabel(entry.language)),
    entry.in_room ? el('span', { class: 'tag tag-in-room', testid: 'in-room' }, t('In the room')) : null,
  ];
}

// ---------------------------------------------------------------------------------------------------------
// The floor panel

/**
 * Who speaks (`floor-speaker`), the countdown, and the next in line (`next-speakers`). Built once, updated in
 * place from `client.floor`.
 */
export class FloorView {
  /**
   * @param {object} [options]
   * @param {boolean} [options.large]          room display and chair: big type
   * @param {number} [options.next]            how many of the next in line to show (the server sends two)
   * @param {boolean} [options.announce]       announce who takes the floor through the live region
   * @param {string | import('./i18n.js').Message} [options.idleText]
   */
  constructor({ large = false, next = 2, announce: speak = true, idleText = msg('Nobody has the floor.') } = {}) {
    this.nextCount = next;
    this.speak = speak;
    this.label = el('p', { class: 'floor-label floor-now-label' }, msg('Now speaking'));
    this.name = el('p', { class: 'floor-speaker', testid: 'floor-speaker', dir: 'auto' });
    this.idle = el('p', { class: 'floor-idle' }, idleText);
    this.details = el('p', { class: 'floor-details' });
    this.tags = el('p', { class: 'floor-tags' });
    this.countdown = new CountdownView({ large });
    this.speaker = el('div', { class: 'floor-now' }, this.label, this.name, this.idle, this.details, this.tags,
      this.countdown.node);
    this.nextList = el('ol', { class: 'next-speakers', testid: 'next-speakers', 'aria-label': msg('Next in line') });
    this.nextEmpty = el('p', { class: 'muted next-empty' }, msg('Nobody is waiting.'));
    this.waiting = el('p', { class: 'muted next-waiting' });
    this.nextBlock = el('div', { class: 'floor-next' },
      el('p', { class: 'floor-label' }, msg('Next in line')), this.nextList, this.nextEmpty, this.waiting);
    this.node = el('div', { class: `floor${large ? ' floor-large' : ''}` }, this.speaker, next ? this.nextBlock : null);
    /** @type {number | null | undefined} undefined until the first update, so the first one says nothing */
    this.speakingId = undefined;
    /** @type {number | null} the viewer's own request, whose turn the page announces in its own words */
    this.mineId = null;
    /** @type {[import('./protocol.js').Floor | null, number] | null} the last update, shown again in a new language */
    this.shown = null;
    onLanguageChange(() => { if (this.shown) this.update(...this.shown); });
  }

  /**
   * @param {import('./protocol.js').Floor | null} floor
   * @param {number} [receivedAt]
   */
  update(floor, receivedAt = Date.now()) {
    this.shown = [floor, receivedAt];
    const speaking = floor?.speaking ?? null;
    this.name.textContent = speaking ? speaking.display_name : '';
    this.name.hidden = !speaking;
    this.idle.hidden = !!speaking;
    this.node.dataset.speaking = speaking ? 'yes' : 'no';
    fill(this.details, speaking ? entryDetails(speaking) : []);
    this.details.hidden = !speaking;
    fill(this.tags, speaking ? entryTags(speaking) : []);
    this.tags.hidden = !speaking;
    this.countdown.set(speaking ? floor?.timer : null, receivedAt);

    const next = (floor?.next ?? []).slice(0, this.nextCount);
    fill(this.nextList, next.map((entry, index) => {
      const about = [entry.stakeholder_group ? groupLabel(entry.stakeholder_group) : '',
        entry.type !== 'statement' ? typeLabel(entry.type) : ''].filter(Boolean).join(' · ');
      return el('li', { class: 'next-item', dataset: { entryId: String(entry.id) } },
        el('span', { class: 'next-place', 'aria-hidden': 'true' }, `${index + 1}.`),
        ' ',
        userText(entry.display_name, 'next-name'),
        about ? el('span', { class: 'next-sep', 'aria-hidden': 'true' }, ' · ') : null,
        about ? el('span', { class: 'next-about' }, el('span', { class: 'visually-hidden' }, ', '), about) : null);
    }));
    this.nextEmpty.hidden = next.length > 0;
    const length = floor?.length ?? 0;
    this.waiting.textContent = length > next.length ? tn(length, '{count} person waiting in all.', '{count} people waiting in all.') : '';

    const id = speaking ? speaking.id : null;
    if (this.speak && this.speakingId !== undefined && id !== this.speakingId && (id === null || id !== this.mineId)) {
      announce(speaking ? t('{name} has the floor.', { name: speaking.display_name }) : t('The floor is free.'));
    }
    this.speakingId = id;
  }
}

/**
 * "You are 2nd in line of 5".
 * @param {number} place
 * @param {number} length
 */
export function placeText(place, length) {
  return t('You are {place} in line of {length}', { place: ordinal(place), length });
}

// ---------------------------------------------------------------------------------------------------------
// Errors of the queue, in words for people

/**
 * What a refused queue action means, for the person who tried it.
 * @param {unknown} error   a ProtocolError (or anything with code and message)
 */
export function queueErrorText(error) {
  const e = /** @type {{code?: string, message?: string}} */ (error ?? {});
  switch (e.code) {
    case 'rate_limited':
      return t('Too many requests in a short time. Wait a few seconds, then try again.');
    case 'session_ended':
      return t('The session has ended: the list of speakers is closed.');
    case 'session_not_live':
      return t('The floor can be given only while the session is live. Go live first.');
    case 'stale_entry':
      return t('That request was already granted, removed or withdrawn meanwhile. The list now shows the latest state.');
    case 'has_floor':
      return t('That person is speaking: end the turn instead.');
    case 'not_queued':
      return t('Your hand is no longer raised.');
    case 'not_speaking':
      return t('Time can be changed only while someone speaks.');
    case 'no_change':
      return t('Nothing to change: that is already the case.');
    case 'forbidden':
      return t('Your role may not do this.');
    case 'not_connected':
      return t('Not connected to the server. Wait until the connection is back, then try again.');
    case 'timeout':
      return t('The server did not answer in time. Try again.');
    default:
      return e.message ?? t('The server refused this action.');
  }
}
