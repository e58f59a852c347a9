// @ts-check
/**
 * "Slow down" notices from the interpretation booths, for the chair's and the moderator's pages: each
 * `booth:notice` shows at the top of the page (an alert, read out by screen readers), the latest first, with
 * the booth's language, the speaker and the time; the last three stay.
 */

import { languageLabel } from './labels.js';
import { msg, t } from './i18n.js';
import { el, fill } from './ui.js';

/** @typedef {import('./protocol-types.js').SlowDownNotice} SlowDownNotice */

const KEPT = 3;

export class SlowDownNotices {
  /**
   * @param {import('./protocol.js').HemicycleClient} client
   * @param {HTMLElement} root
   */
  constructor(client, root) {
    /** @type {SlowDownNotice[]} */ this.notices = [];
    this.list = el('ul', { class: 'plain-list', testid: 'slow-down-list' });
    this.node = el('section', {
      class: 'panel panel-slow-down', id: 'slow-down-panel', role: 'alert', hidden: true,
      'aria-labelledby': 'slow-down-heading',
    }, el('h2', { id: 'slow-down-heading' }, msg('Interpreters')), this.list);
    root.prepend(this.node);
    client.on('booth:notice', (/** @type {{notice: SlowDownNotice}} */ { notice }) => {
      this.notices = [notice, ...this.notices].slice(0, KEPT);
      this.render();
    });
  }

  render() {
    this.node.hidden = !this.notices.length;
    fill(this.list, this.notices.map((notice) => el('li', { testid: 'slow-down-notice' },
      t('The {language} booth asks {speaker} to slow down ({time}).', {
        language: languageLabel(notice.language),
        speaker: notice.speaker,
        time: new Date(notice.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }),
      }))));
  }

  relabel() { this.render(); }
}
