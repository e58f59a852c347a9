// @ts-check
/**
 * Questions on every page: who asked (or "Anonymous"), the stage badges, the question being read aloud, the
 * refusals in words, and keeping keyboard focus when a list is rebuilt. Page layer (touches the DOM); the state
 * is in HemicycleClient (`client.questions`, `client.myQuestions`, `client.moderation`).
 *
 * Test hooks: `reading` (the question being read aloud, with `data-question-id`; hidden when none).
 */

import { t } from './i18n.js';
import { countryName, groupLabel, questionStageLabel } from './labels.js';
import { el, fill, userText } from './ui.js';

/** @typedef {import('./protocol.js').PublicQuestion} PublicQuestion */

/**
 * "Amina Diallo · Ministry of ICT · Government · Senegal" as nodes; "Anonymous" when the asker hid their name
 * from others (staff pass `reveal` to see who it is).
 * @param {PublicQuestion} question
 * @param {{reveal?: boolean, country?: boolean}} [options]
 *   reveal: staff views, where `asker` holds the real person even for an anonymous question
 */
export function askerNodes(question, { reveal = false, country = true } = {}) {
  const asker = question.asker;
  if (question.anonymous && !reveal) {
    return [el('span', { class: 'asker-name asker-anonymous' }, t('Anonymous'))];
  }
  const parts = [userText(asker.display_name, 'asker-name')];
  if (asker.affiliation) parts.push(userText(asker.affiliation, 'asker-affiliation'));
  if (asker.stakeholder_group) parts.push(el('span', { class: 'asker-group' }, groupLabel(asker.stakeholder_group)));
  if (country && asker.country) {
    parts.push(el('span', { class: 'asker-country', title: asker.country }, countryName(asker.country)));
  }
  return parts.flatMap((node, i) => (i ? [' · ', node] : [node]));
}

/**
 * "To: the panel" is not worth saying; "To: Dr. X" is.
 * @param {PublicQuestion} question
 */
export function addresseeNode(question) {
  return question.to ? el('p', { class: 'question-to' }, `${t('To')} `, userText(question.to, 'question-to-name', 'strong')) : null;
}

/**
 * The badge of an approved question's way to the room; null before it is forwarded.
 * @param {string} stage
 * @param {{reading?: boolean}} [options]   reading: this is the question being read aloud now
 */
export function stageBadge(stage, { reading = false } = {}) {
  if (!stage || stage === 'none') return null;
  const label = reading ? t('Being read aloud') : questionStageLabel(stage);
  return el('span', { class: `tag tag-stage tag-stage-${stage}${reading ? ' tag-reading' : ''}`, dataset: { stage } }, label);
}

/**
 * The question being read aloud (`data-testid="reading"`): its text, who asked (unless anonymous) and to whom.
 * Built once, updated in place; hidden when no question is being read.
 */
export class ReadingView {
  /**
   * @param {{large?: boolean, label?: string}} [options]   large: the room display
   */
  constructor({ large = false, label = t('Being read aloud now') } = {}) {
    this.label = el('p', { class: 'reading-label' }, label);
    this.text = el('p', { class: 'reading-text', dir: 'auto' });
    this.to = el('p', { class: 'reading-to' });
    this.asker = el('p', { class: 'reading-asker' });
    this.node = el('section', {
      class: `reading${large ? ' reading-large' : ''}`, testid: 'reading', 'aria-label': label,
    }, this.label, this.text, this.to, this.asker);
    this.node.hidden = true;
  }

  /** @param {PublicQuestion | null | undefined} question */
  update(question) {
    this.node.hidden = !question;
    if (!question) {
      delete this.node.dataset.questionId;
      this.text.textContent = '';
      fill(this.to);
      fill(this.asker);
      return;
    }
    this.node.dataset.questionId = String(question.id);
    this.text.textContent = question.text;
    // Long questions get smaller type on the room display, so they still fit on the screen.
    const length = [...question.text].length;
    this.node.dataset.length = length > 320 ? 'long' : length > 160 ? 'medium' : 'short';
    fill(this.to, question.to ? [`${t('To')} `, userText(question.to, 'reading-to-name', 'strong')] : []);
    this.to.hidden = !question.to;
    fill(this.asker, question.anonymous ? [] : [`${t('Asked by')} `, askerNodes(question, { country: false })]);
    if (question.anonymous) this.asker.append(el('span', { class: 'asker-anonymous' }, t('Asked anonymously')));
  }
}

/**
 * What a refused question action means, for the person who tried it.
 * @param {unknown} error   a ProtocolError (or anything with code and message)
 */
export function questionErrorText(error) {
  const e = /** @type {{code?: string, message?: string}} */ (error ?? {});
  switch (e.code) {
    case 'rate_limited':
      return t('Too many questions or votes in a short time. Wait a few seconds, then try again.');
    case 'session_ended':
      return t('The session has ended: questions are closed.');
    case 'not_pending':
      return t('The moderators have already reviewed this question: it can no longer be changed or withdrawn.');
    case 'not_approved':
      return t('This question is not approved (any more): it takes no votes and cannot go to the chair.');
    case 'own_question':
      return t('You cannot vote for your own question.');
    case 'already_voted':
      return t('You have already voted for this question.');
    case 'not_voted':
      return t('You have not voted for this question.');
    case 'not_yours':
      return t('This is not your question.');
    case 'stale_question':
      return t('Someone else changed this question meanwhile. The list now shows the latest state.');
    case 'invalid_stage':
      return t('This question has already moved on (someone else marked it meanwhile). The list now shows the latest state.');
    case 'unknown_question':
      return t('This question no longer exists.');
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

/** Codes after which the list on screen was behind: fetch the latest questions. */
export const STALE_QUESTION_CODES = Object.freeze(['stale_question', 'invalid_stage', 'not_approved', 'unknown_question',
  'not_pending', 'already_voted', 'not_voted']);

/**
 * Rebuild a list of questions, giving keyboard focus back to the same control of the same question (or a
 * neighbour when it left the list), as the queue does.
 * @param {HTMLElement} list   items carry `data-question-id`, controls `data-action`
 * @param {() => void} rebuild
 */
export function rebuildKeepingFocus(list, rebuild) {
  const active = /** @type {HTMLElement | null} */ (document.activeElement);
  const item = active && list.contains(active) ? /** @type {HTMLElement | null} */ (active.closest('[data-question-id]')) : null;
  const key = item ? {
    id: item.dataset.questionId,
    action: active?.dataset.action ?? null,
    index: [...list.children].indexOf(item),
  } : null;
  rebuild();
  if (!key) return;
  const again = /** @type {HTMLElement | undefined} */ (
    [...list.children].find((node) => /** @type {HTMLElement} */ (node).dataset.questionId === key.id));
  if (again) {
    const same = key.action ? /** @type {HTMLButtonElement | null} */ (again.querySelector(`[data-action="${key.action}"]`)) : null;
    const target = same && !same.disabled ? same
      : /** @type {HTMLButtonElement | undefined} */ ([...again.querySelectorAll('button')].find((b) => !b.disabled));
    (target ?? again).focus();
    return;
  }
  const neighbour = /** @type {HTMLElement | undefined} */ (list.children[Math.min(key.index, list.children.length - 1)]);
  const button = neighbour?.querySelector('button');
  if (button) button.focus();
  else list.focus();
}

/**
 * The first words of a question, for announcements and labels.
 * @param {string} text
 * @param {number} [max]
 */
export function excerpt(text, max = 80) {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('').trimEnd()}…`;
}
