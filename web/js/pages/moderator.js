// @ts-check
/**
 * The moderator's page: the speakers' queue and the floor (order, grant, revoke, time, in-room requests,
 * balance and suggestion, the record), questions (moderation, relay to the chair, counts, export), session
 * state and its controls, presence, the roster and the audit log; moderating participants (the waiting room,
 * mute, remove, ban and unban, the moderation record); whether the media links are live; live polls.
 */
import { SlowDownNotices } from '../booth-notice-ui.js';
import { t } from '../i18n.js';
import { PollsConsole } from '../poll-ui.js';
import { el } from '../ui.js';
import { MediaHealthPanel } from './av-media.js';
import { startConsole } from './console.js';

startConsole({
  role: 'moderator', audit: true, floor: 'manage', questions: 'moderate', participants: true, help: true,
  extend: (client, root) => {
    // Live polls (issue 24): prepared, opened, closed and shown from here, with their live results.
    const body = el('div', { class: 'panel-body' });
    root.append(el('section', { class: 'panel panel-polls', id: 'polls-panel', 'aria-labelledby': 'polls-heading' },
      el('h2', { id: 'polls-heading' }, t('Polls')), body));
    return {
      polls: new PollsConsole(body, client),
      media: new MediaHealthPanel(client, root),
      // "Slow down" from the interpretation booths (issue 21).
      booths: new SlowDownNotices(client, root),
    };
  },
});
