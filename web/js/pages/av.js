// @ts-check
/** The AV technician's page: the room feed, the remote speaker for the PA, the green room and link health
 * (js/pages/av-media.js), then who has the floor and the time left, session state and who is connected. */
import { AvDesk } from './av-media.js';
import { startConsole } from './console.js';

startConsole({ role: 'av', help: true, extend: (client, root) => new AvDesk(client, root) });
