// @ts-check
/**
 * The moderator's page: the speakers' queue and the floor (order, grant, revoke, time, in-room requests,
 * balance and suggestion, the record), questions (moderation, relay to the chair, counts, export), session
 * state and its controls, presence, the roster and the audit log; moderating participants (the waiting room,
 * mute, remove, ban and unban, the moderation record); whether the media links are live.
 */
import { MediaHealthPanel } from './av-media.js';
import { startConsole } from './console.js';

startConsole({
  role: 'moderator', audit: true, floor: 'manage', questions: 'moderate', participants: true, help: true,
  extend: (client, root) => new MediaHealthPanel(client, root),
});
