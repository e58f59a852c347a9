// @ts-check
/** The interpreter's page: who has the floor (and in which language), the time left, session state and who is
 * connected (channel publishing comes later). */
import { startConsole } from './console.js';

startConsole({ role: 'interpreter' });
