// @ts-check
/** The AV technician's page: who has the floor and the time left, session state and who is connected (the room
 * feed and link health come later). */
import { startConsole } from './console.js';

startConsole({ role: 'av' });
