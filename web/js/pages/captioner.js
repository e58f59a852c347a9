// @ts-check
/** The captioner's page: who has the floor and the time left, session state and who is connected (caption input
 * comes later). */
import { startConsole } from './console.js';

startConsole({ role: 'captioner' });
