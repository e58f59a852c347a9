// @ts-check
/** The interpreter's page: publish a language channel (js/pages/booth-media.js), then who has the floor (and
 * in which language), the time left, the statements speakers sent in advance (js/pages/booth-statements.js),
 * session state and who is connected. */
import { InterpreterBooth } from './booth-media.js';
import { SignBooth } from './booth-sign.js';
import { StatementsPanel } from './booth-statements.js';
import { startConsole } from './console.js';

startConsole({
  role: 'interpreter',
  extend: (client, root) => {
    const booth = new InterpreterBooth(client, root);
    new StatementsPanel(client, root); // statements sent in advance (issue 21)
    new SignBooth(client, root); // the sign-language channel (issue 21)
    return booth;
  },
});
