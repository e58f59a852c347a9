// @ts-check
/** The chair's page, for a tablet in the room: session state with large controls, counts and staff present. */
import { startConsole } from './console.js';

startConsole({ role: 'chair', staffOnlyRoster: true, large: true });
