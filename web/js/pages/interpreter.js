// @ts-check
/** The interpreter's page: publish a language channel (js/pages/booth-media.js), then who has the floor (and
 * in which language), the time left, session state and who is connected. */
import { InterpreterBooth } from './booth-media.js';
import { startConsole } from './console.js';

startConsole({ role: 'interpreter', extend: (client, root) => new InterpreterBooth(client, root) });
