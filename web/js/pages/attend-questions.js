// @ts-check
/**
 * The attendee's "Questions" panel: the question being read aloud in the room, a form to ask one (with a live
 * character count, an optional addressee and the choice to ask anonymously), one's own questions with their
 * state (edit or withdraw while pending), and the approved questions of everyone, sortable, to vote for.
 * Everything renders from `client.questions` and `client.myQuestions` and is rebuilt on each update; keyboard
 * focus is put back on the control that had it.
 *
 * Test hooks: `question-form` (with `question-text`, `question-to`, `question-anonymous`), `my-questions` with
 * `my-question` items (`data-question-id`, `data-state`) holding `edit-question`, `withdraw-question`;
 * `public-questions` with `public-question` items (`data-question-id`) holding `vote`, `unvote`, `vote-count`;
 * `reading`; dialogs `edit-question-dialog`, `withdraw-question-dialog`.
 */

import { msg, t, tn } from '../i18n.js';
import { questionLength } from '../labels.js';
import {
  ReadingView, STALE_QUESTION_CODES, addresseeNode, askerNodes, excerpt, questionErrorText, rebuildKeepingFocus,
  stageBadge,
} from '../question-ui.js';
import {
  announce, askDialog, el, errorNode, fill, formatTime, showError, throttledAnnouncer, userText,
} from '../ui.js';

/** @typedef {import('../protocol.js').HemicycleClient} HemicycleClient */
/** @typedef {import('../protocol.js').PublicQuestion} PublicQuestion */
/** @typedef {import('../protocol.js').OwnQuestion} OwnQuestion */

/** How a state reads on the asker's own list. */
/** @type {Record<string, import('../i18n.js').Message>} */
const MY_STATE_WORDS = {
  pending: msg('Waiting for the moderators'),
  approved: msg('Approved: everyone can see it'),
  dismissed: msg('Dismissed'),
  merged: msg('Merged with a similar question'),
  withdrawn: msg('Withdrawn'),
};

/** Characters left below which the count is read out to screen-reader users. */
const COUNT_WARNING = 50;

export class AttendeeQuestions {
  /**
   * @param {HTMLElement} container
   * @param {() => HemicycleClient | null} getClient
   */
  constructor(container, getClient) {
    this.getClient = getClient;
    this.reading = new ReadingView();

    // --- the form
    this.text = /** @type {HTMLTextAreaElement} */ (el('textarea', {
      id: 'question-text', name: 'text', rows: '4', dir: 'auto', testid: 'question-text',
      'aria-describedby': 'question-text-count question-moderation-hint question-text-error', required: true,
    }));
    this.count = el('p', { id: 'question-text-count', class: 'hint char-count' });
    this.countAlert = el('p', { class: 'visually-hidden', role: 'status' });
    this.textError = el('p', { id: 'question-text-error', class: 'error field-error', role: 'alert' });
    this.textError.hidden = true;
    this.to = /** @type {HTMLInputElement} */ (el('input', {
      id: 'question-to', name: 'to', type: 'text', dir: 'auto', maxlength: '120', autocomplete: 'off',
      testid: 'question-to', 'aria-describedby': 'question-to-hint',
    }));
    this.anonymous = /** @type {HTMLInputElement} */ (el('input', {
      id: 'question-anonymous', name: 'anonymous', type: 'checkbox', testid: 'question-anonymous',
      'aria-describedby': 'question-anonymous-hint',
    }));
    this.moderationHint = el('p', { id: 'question-moderation-hint', class: 'hint' });
    this.submit = /** @type {HTMLButtonElement} */ (el('button', { type: 'submit' }, msg('Send question')));
    this.formError = errorNode();
    this.formStatus = el('p', { class: 'muted question-status', role: 'status' });
    this.closed = el('p', { class: 'muted' });
    this.form = /** @type {HTMLFormElement} */ (el('form', { class: 'question-form', testid: 'question-form', novalidate: true },
      el('div', { class: 'field' },
        el('label', { for: 'question-text' }, msg('Your question')),
        this.text, this.count, this.countAlert, this.moderationHint, this.textError),
      el('div', { class: 'field' },
        el('label', { for: 'question-to' }, msg('To'), ' ', el('span', { class: 'required' }, msg('(optional)'))),
        this.to,
        el('p', { id: 'question-to-hint', class: 'hint' }, msg('Leave empty to ask the panel, or name the speaker you are asking.'))),
      el('div', { class: 'field field-check' },
        this.anonymous,
        el('label', { for: 'question-anonymous' }, msg('Ask anonymously')),
        el('p', { id: 'question-anonymous-hint', class: 'hint' },
          msg('Your name, affiliation and stakeholder group are hidden from other participants and on the room display. The moderators still see who asks.'))),
      this.formError,
      el('p', { class: 'actions' }, this.submit),
      this.closed,
      this.formStatus));

    // --- my questions
    this.myHeading = el('h3', { id: 'my-questions-heading' }, msg('Your questions'));
    this.myList = el('ol', {
      class: 'question-list my-questions', testid: 'my-questions', 'aria-labelledby': 'my-questions-heading', tabindex: '-1',
    });
    this.myBlock = el('div', { class: 'my-questions-block' }, this.myHeading, this.myList);
    this.myError = errorNode();

    // --- everyone's approved questions
    this.sort = /** @type {HTMLSelectElement} */ (el('select', { id: 'questions-sort', class: 'select-short' },
      el('option', { value: 'votes' }, msg('Most votes')),
      el('option', { value: 'newest' }, msg('Newest first'))));
    this.publicList = el('ol', {
      class: 'question-list public-questions', testid: 'public-questions', 'aria-labelledby': 'public-questions-heading',
      tabindex: '-1',
    });
    this.publicEmpty = el('p', { class: 'muted' }, msg('No question has been approved yet.'));
    this.publicError = errorNode();

    fill(container,
      this.reading.node,
      el('h3', { id: 'ask-heading' }, msg('Ask a question')),
      this.form,
      this.myBlock, this.myError,
      el('div', { class: 'list-head' },
        el('h3', { id: 'public-questions-heading' }, msg('Questions from participants')),
        el('p', { class: 'sort-field' }, el('label', { for: 'questions-sort' }, msg('Sort by')), ' ', this.sort)),
      el('p', { class: 'hint' }, msg('Vote for the questions you would like the panel to answer.')),
      this.publicError,
      this.publicList, this.publicEmpty);

    /** @type {Set<string>} actions under way, as "action:id" */
    this.busy = new Set();
    this.posting = false;
    /** @type {Set<number> | null} approved questions already seen, to announce new ones (null until the first view) */
    this.knownPublic = null;
    /** @type {Map<number, OwnQuestion>} my questions as last seen, to explain what changed */
    this.knownMine = new Map();
    /** @type {Map<number, OwnQuestion>} my questions merged into others: the server stops listing them */
    this.merged = new Map();
    /** @type {number | null | undefined} the question being read, as last seen (undefined: nothing seen yet) */
    this.readingId = undefined;
    this.announceApproved = throttledAnnouncer(20_000);
    /** How many approved questions the next throttled announcement covers. */
    this.pendingAnnounced = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.announceReset = undefined;
    /** @type {'ok' | 'near' | 'over'} where the character count was at the last keystroke */
    this.countBand = 'ok';
    /** Whether my questions were rendered once (the first view sets the baseline, says nothing). */
    this.seenMine = false;
    /** @type {number | null} the question the form sent last, whose "sent" line lasts until it is decided */
    this.lastPosted = null;

    this.text.addEventListener('input', () => this.#syncCount(true));
    this.sort.addEventListener('change', () => this.#renderPublic());
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.#post();
    });
  }

  get #maxChars() {
    return this.getClient()?.questions?.max_chars ?? 500;
  }

  /** Everything, from the client's state (after a welcome, a session change, a reconnection). */
  update() {
    this.#syncForm();
    this.#syncCount(false);
    this.#renderMine();
    this.#renderPublic();
    this.#renderReading();
  }

  /** `questions:public` arrived. */
  onPublic() {
    this.#syncForm();
    this.#renderPublic();
    this.#renderReading();
    this.#renderMine(); // vote counts of my approved questions come from the public view
  }

  /** `questions:mine` arrived. */
  onMine() {
    this.#renderMine();
    this.#renderPublic(); // "your question" marks and votes
  }

  // --- the form -------------------------------------------------------------------------------------------

  #syncForm() {
    const client = this.getClient();
    const state = client?.session?.state ?? 'scheduled';
    const connected = client?.connection === 'connected';
    const open = state !== 'ended';
    this.moderationHint.textContent = client?.questions?.premoderated === false
      ? t('Questions are shown to everyone as soon as they are sent.')
      : t('A moderator reviews each question before everyone can see it.');
    for (const control of [this.text, this.to, this.anonymous]) control.disabled = !open;
    this.submit.disabled = this.posting || !open || !connected;
    this.submit.textContent = this.posting ? t('Sending…') : t('Send question');
    this.closed.textContent = !open ? t('The session has ended: questions are closed.')
      : !connected ? t('Not connected: wait until the connection is back.') : '';
    this.closed.hidden = !this.closed.textContent;
  }

  /** @param {boolean} typing   a keystroke: tell screen-reader users when the limit comes near */
  #syncCount(typing) {
    const max = this.#maxChars;
    const used = questionLength(this.text.value);
    const left = max - used;
    this.count.textContent = left >= 0
      ? t('{used} / {max} characters', { used, max })
      : tn(-left, '{used} / {max} characters: {count} character too many', '{used} / {max} characters: {count} characters too many',
        { used, max });
    this.count.dataset.state = left < 0 ? 'over' : left <= COUNT_WARNING ? 'near' : 'ok';
    if (typing) {
      const band = left < 0 ? 'over' : left <= COUNT_WARNING ? 'near' : 'ok';
      if (band !== this.countBand) {
        this.countAlert.textContent = band === 'over' ? tn(-left, '{count} character too many.', '{count} characters too many.')
          : band === 'near' ? tn(left, '{count} character left.', '{count} characters left.') : '';
      }
      this.countBand = band;
    }
    if (left >= 0 && this.text.getAttribute('aria-invalid') === 'true' && used > 0) {
      this.text.removeAttribute('aria-invalid');
      showError(this.textError, null);
    }
  }

  async #post() {
    const client = this.getClient();
    if (!client || this.posting) return;
    showError(this.formError, null);
    showError(this.textError, null);
    this.text.removeAttribute('aria-invalid');
    this.formStatus.textContent = '';
    const used = questionLength(this.text.value);
    const problem = used === 0 ? t('Write your question first.')
      : used > this.#maxChars ? t('Your question is {used} characters long: shorten it to {max} at most.', { used, max: this.#maxChars })
        : null;
    if (problem) {
      showError(this.textError, { code: 'invalid_input', message: problem });
      this.text.setAttribute('aria-invalid', 'true');
      this.text.focus();
      return;
    }
    this.posting = true;
    this.#syncForm();
    try {
      const { question } = await client.postQuestion({
        text: this.text.value, to: this.to.value.trim(), anonymous: this.anonymous.checked,
      });
      this.form.reset();
      this.lastPosted = question.id;
      this.countBand = 'ok';
      this.#syncCount(false);
      this.formStatus.textContent = question.state === 'pending'
        ? t('Your question was sent. It is shown to everyone once a moderator approves it.')
        : t('Your question was sent and is now shown to everyone.');
      announce(this.formStatus.textContent);
      this.text.focus();
    } catch (err) {
      const e = /** @type {any} */ (err);
      const message = questionErrorText(e);
      if (e?.field === 'text') {
        showError(this.textError, { code: e.code, message });
        this.text.setAttribute('aria-invalid', 'true');
        this.text.focus();
      } else if (e?.field === 'to') {
        showError(this.formError, { code: e.code, message });
        this.to.setAttribute('aria-invalid', 'true');
        this.to.focus();
      } else {
        showError(this.formError, { code: e?.code, message });
      }
    } finally {
      this.posting = false;
      this.#syncForm();
    }
  }

  // --- my questions ---------------------------------------------------------------------------------------

  #renderMine() {
    const client = this.getClient();
    const view = client?.myQuestions;
    if (!client || !view) return;
    const mine = view.questions;
    const ids = new Set(mine.map((q) => q.id));
    // A question merged into another leaves the asker's list: keep it, in words, for this page's life.
    for (const [id, before] of this.knownMine) {
      if (!ids.has(id) && !this.merged.has(id) && (before.state === 'pending' || before.state === 'approved')) {
        this.merged.set(id, { ...before, state: 'merged', editable: false });
        announce(t('Your question “{question}” was merged with a similar question; your vote goes to that one.',
          { question: excerpt(before.text, 60) }));
      }
    }
    if (this.seenMine) this.#announceMine(mine);
    this.seenMine = true;
    this.knownMine = new Map(mine.map((q) => [q.id, q]));

    const publicVotes = new Map((client.questions?.questions ?? []).map((q) => [q.id, q]));
    const shown = [...mine, ...[...this.merged.values()].filter((q) => !ids.has(q.id))]
      .sort((a, b) => b.created_at.localeCompare(a.created_at));
    rebuildKeepingFocus(this.myList, () => fill(this.myList, shown.map((q) => this.#myItem(q, publicVotes.get(q.id)))));
    this.myBlock.hidden = shown.length === 0;
  }

  /** @param {OwnQuestion[]} mine */
  #announceMine(mine) {
    for (const q of mine) {
      const before = this.knownMine.get(q.id);
      if (!before) continue;
      // "Your question was sent" no longer holds once the moderators have decided.
      if (q.id === this.lastPosted && q.state !== before.state) this.formStatus.textContent = '';
      const question = excerpt(q.text, 60);
      if (before.state === 'pending' && q.state === 'approved') {
        announce(t('Your question “{question}” was approved: everyone can now see it and vote for it.', { question }));
      } else if (before.state !== 'dismissed' && q.state === 'dismissed') {
        announce(q.dismiss_reason
          ? t('Your question “{question}” was dismissed by the moderators: {reason}.', { question, reason: q.dismiss_reason })
          : t('Your question “{question}” was dismissed by the moderators.', { question }));
      } else if (before.stage !== q.stage && q.stage === 'forwarded') {
        announce(t('Your question “{question}” was forwarded to the chair.', { question }));
      } else if (before.stage !== q.stage && q.stage === 'answered') {
        announce(t('Your question “{question}” was answered.', { question }));
      }
    }
  }

  /**
   * @param {OwnQuestion} q
   * @param {PublicQuestion | undefined} live   the same question in the public view (fresher vote count)
   */
  #myItem(q, live) {
    const client = this.getClient();
    const connected = client?.connection === 'connected';
    const textId = `my-question-text-${q.id}`;
    const reading = client?.questions?.reading?.id === q.id;
    const votes = live ? live.votes : q.votes;
    const buttons = q.editable ? [
      el('button', {
        type: 'button', class: 'secondary', testid: 'edit-question', dataset: { action: 'edit' },
        disabled: !connected || this.busy.has(`edit:${q.id}`), 'aria-describedby': textId,
        onclick: () => this.#edit(q),
      }, t('Edit'), el('span', { class: 'visually-hidden' }, ` ${t('your question')}`)),
      el('button', {
        type: 'button', class: 'secondary danger-text', testid: 'withdraw-question', dataset: { action: 'withdraw' },
        disabled: !connected || this.busy.has(`withdraw:${q.id}`), 'aria-describedby': textId,
        onclick: () => this.#withdraw(q),
      }, t('Withdraw'), el('span', { class: 'visually-hidden' }, ` ${t('your question')}`)),
    ] : [];
    return el('li', {
      class: `question my-question question-state-${q.state}${reading ? ' question-reading' : ''}`,
      testid: 'my-question', dataset: { questionId: String(q.id), state: q.state }, tabindex: '-1',
    },
    el('p', { class: 'question-tags' },
      el('span', { class: `tag tag-state tag-state-${q.state}` }, MY_STATE_WORDS[q.state] ?? q.state),
      q.state === 'approved' ? stageBadge(q.stage, { reading }) : null,
      q.anonymous ? el('span', { class: 'tag tag-anonymous' }, t('Anonymous to others')) : null),
    el('p', { id: textId, class: 'question-text', dir: 'auto' }, q.text),
    addresseeNode(q),
    q.state === 'dismissed'
      ? el('p', { class: 'question-reason' }, t('The moderators dismissed it'),
        q.dismiss_reason ? [': ', userText(q.dismiss_reason, 'dismiss-reason')] : null, '.')
      : null,
    q.state === 'pending' ? el('p', { class: 'hint' }, t('You can edit or withdraw it until a moderator reviews it.')) : null,
    q.state === 'merged'
      ? el('p', { class: 'hint' }, t('A moderator merged it into a similar question; it counts as your vote for that one.'))
      : null,
    q.state === 'approved'
      ? el('p', { class: 'question-meta' }, el('span', { class: 'vote-total' }, tn(votes, '{count} vote', '{count} votes')),
        ` · ${t('asked')} `, el('time', { datetime: q.created_at }, formatTime(q.created_at, client?.event?.timezone, { timeStyle: 'short' })))
      : null,
    buttons.length ? el('p', { class: 'actions question-actions' }, buttons) : null);
  }

  /** @param {OwnQuestion} q */
  async #edit(q) {
    const client = this.getClient();
    if (!client) return;
    const max = this.#maxChars;
    const text = await askDialog({
      title: t('Edit your question'),
      text: t('You can change it until a moderator reviews it.'),
      field: {
        label: t('Your question'), required: true, value: q.text, maxLength: 0, rows: 5,
        hint: t('At most {max} characters.', { max }),
        validate: (value) => (questionLength(value) > max
          ? t('Your question is {used} characters long: shorten it to {max} at most.', { used: questionLength(value), max })
          : null),
      },
      confirm: t('Save'), testid: 'edit-question-dialog',
    });
    this.#focusAction(this.myList, q.id, 'edit');
    if (text === null || text === q.text) return;
    await this.#request(`edit:${q.id}`, this.myError, async () => {
      await client.editQuestion(q.id, text);
      announce(t('Your question was changed.'));
    });
  }

  /** @param {OwnQuestion} q */
  async #withdraw(q) {
    const client = this.getClient();
    if (!client) return;
    const confirmed = await askDialog({
      title: t('Withdraw your question?'),
      text: t('“{question}” will not be shown to anyone. This cannot be undone.', { question: excerpt(q.text, 120) }),
      confirm: t('Withdraw'), danger: true, testid: 'withdraw-question-dialog',
    });
    this.#focusAction(this.myList, q.id, 'withdraw');
    if (confirmed === null) return;
    await this.#request(`withdraw:${q.id}`, this.myError, async () => {
      await client.withdrawQuestion(q.id);
      announce(t('Your question was withdrawn.'));
    });
  }

  // --- everyone's questions -------------------------------------------------------------------------------

  #renderPublic() {
    const client = this.getClient();
    const view = client?.questions;
    if (!client || !view) return;
    const mineIds = new Set([...(client.myQuestions?.questions ?? []).map((q) => q.id)]);
    const voted = new Set(client.myQuestions?.voted ?? []);
    const questions = [...view.questions];
    if (this.sort.value === 'newest') {
      questions.sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id - a.id);
    } else {
      questions.sort((a, b) => b.votes - a.votes || a.created_at.localeCompare(b.created_at) || a.id - b.id);
    }
    const readingId = view.reading?.id ?? null;
    rebuildKeepingFocus(this.publicList, () => fill(this.publicList, questions.map((q) => this.#publicItem(q, {
      mine: mineIds.has(q.id), voted: voted.has(q.id), reading: q.id === readingId,
    }))));
    this.publicEmpty.hidden = questions.length > 0;

    // Newly approved questions of others, said (at most every 20 s) once the first view set the baseline.
    if (this.knownPublic) {
      const added = view.questions.filter((q) => !this.knownPublic?.has(q.id) && !mineIds.has(q.id));
      if (added.length) {
        this.pendingAnnounced += added.length;
        const count = this.pendingAnnounced;
        this.announceApproved(tn(count, 'A new question was approved.', '{count} new questions were approved.'));
        clearTimeout(this.announceReset);
        this.announceReset = setTimeout(() => { this.pendingAnnounced = 0; }, 20_000);
      }
    }
    this.knownPublic = new Set(view.questions.map((q) => q.id));
  }

  /**
   * @param {PublicQuestion} q
   * @param {{mine: boolean, voted: boolean, reading: boolean}} flags
   */
  #publicItem(q, { mine, voted, reading }) {
    const client = this.getClient();
    const connected = client?.connection === 'connected';
    const open = client?.session?.state !== 'ended';
    const textId = `public-question-text-${q.id}`;
    const busy = this.busy.has(`vote:${q.id}`);
    const button = mine ? null : voted
      ? el('button', {
        type: 'button', class: 'secondary vote-button voted', testid: 'unvote', dataset: { action: 'unvote' },
        disabled: busy || !connected || !open, 'aria-describedby': textId, onclick: () => this.#vote(q, false),
      }, el('span', { 'aria-hidden': 'true' }, '✓'), t('Take back my vote'))
      : el('button', {
        type: 'button', class: 'vote-button', testid: 'vote', dataset: { action: 'vote' },
        disabled: busy || !connected || !open, 'aria-describedby': textId, onclick: () => this.#vote(q, true),
      }, el('span', { 'aria-hidden': 'true' }, '▲'), t('Vote'), el('span', { class: 'visually-hidden' }, ` ${t('for this question')}`));
    return el('li', {
      class: `question public-question${reading ? ' question-reading' : ''}${mine ? ' question-mine' : ''}`,
      testid: 'public-question', dataset: { questionId: String(q.id), stage: q.stage }, tabindex: '-1',
    },
    el('div', { class: 'question-votes' },
      el('span', { class: 'vote-number', testid: 'vote-count', dataset: { count: String(q.votes) } }, String(q.votes)),
      el('span', { class: 'vote-word' }, tn(q.votes, 'vote', 'votes'))),
    el('div', { class: 'question-body' },
      (reading || q.stage !== 'none' || q.starred || mine) ? el('p', { class: 'question-tags' },
        stageBadge(q.stage, { reading }),
        q.starred ? el('span', { class: 'tag tag-starred' }, `★ ${t('Highlighted by the moderators')}`) : null,
        mine ? el('span', { class: 'tag tag-mine' }, t('Your question')) : null) : null,
      el('p', { id: textId, class: 'question-text', dir: 'auto' }, q.text),
      addresseeNode(q),
      el('p', { class: 'question-asker' }, askerNodes(q, { country: false })),
      button ? el('p', { class: 'actions question-actions' }, button) : null));
  }

  /**
   * @param {PublicQuestion} q
   * @param {boolean} voting
   */
  async #vote(q, voting) {
    const client = this.getClient();
    if (!client) return;
    await this.#request(`vote:${q.id}`, this.publicError, async () => {
      const result = voting ? await client.voteQuestion(q.id) : await client.unvoteQuestion(q.id);
      const total = tn(result.votes, '{count} vote', '{count} votes');
      announce(voting ? t('Vote counted: {total}.', { total }) : t('Vote taken back: {total}.', { total }));
    });
  }

  // --- the question read aloud ----------------------------------------------------------------------------

  #renderReading() {
    const client = this.getClient();
    const reading = client?.questions?.reading ?? null;
    this.reading.update(reading);
    const id = reading ? reading.id : null;
    if (this.readingId !== undefined && id !== null && id !== this.readingId) {
      const mine = client?.myQuestions?.questions.some((q) => q.id === id);
      const text = excerpt(reading?.text ?? '', 100);
      announce(mine ? t('Your question is being read aloud: “{question}”.', { question: text })
        : reading?.anonymous ? t('Question being read aloud: “{question}”, asked anonymously.', { question: text })
          : t('Question being read aloud: “{question}”, asked by {name}.', { question: text, name: reading?.asker.display_name ?? '' }));
    }
    if (client?.questions) this.readingId = id;
  }

  // --- requests -------------------------------------------------------------------------------------------

  /**
   * @param {HTMLElement} list
   * @param {number} id
   * @param {string} action
   */
  #focusAction(list, id, action) {
    const button = /** @type {HTMLButtonElement | null} */ (list.querySelector(`[data-question-id="${id}"] [data-action="${action}"]`));
    if (button && !button.disabled) button.focus();
  }

  /**
   * Run one request; errors go next to the list in words; a stale view is fetched again.
   * @param {string} key
   * @param {HTMLElement} errorNodeFor
   * @param {() => Promise<void>} run
   */
  async #request(key, errorNodeFor, run) {
    const client = this.getClient();
    if (this.busy.has(key) || !client) return;
    this.busy.add(key);
    showError(this.myError, null);
    showError(this.publicError, null);
    this.#renderMine();
    this.#renderPublic();
    try {
      await run();
    } catch (err) {
      const e = /** @type {any} */ (err);
      showError(errorNodeFor, { code: e?.code, message: questionErrorText(e) });
      if (STALE_QUESTION_CODES.includes(e?.code)) client.refreshQuestions().catch(() => {});
    } finally {
      this.busy.delete(key);
      this.#renderMine();
      this.#renderPublic();
    }
  }
}
