// @ts-check
/** The interpreter's page: session state and who is connected (channel publishing comes later). */
import { startConsole } from './console.js';

startConsole({ role: 'interpreter' });
