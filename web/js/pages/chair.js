// @ts-check
/**
 * The chair's page, for a tablet in the room: the current speaker, the time left and who is next, with large
 * "Give the floor to next" and "End turn" buttons; the questions forwarded by the moderator, to read aloud and
 * mark answered; the queue and in-room requests; session state with large controls, counts and staff present.
 */
import { SlowDownNotices } from '../booth-notice-ui.js';
import { startConsole } from './console.js';

startConsole({
  role: 'chair', staffOnlyRoster: true, large: true, floor: 'chair', questions: 'chair',
  // "Slow down" from the interpretation booths (issue 21).
  extend: (client, root) => new SlowDownNotices(client, root),
});
