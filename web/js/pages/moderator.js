// @ts-check
/** The moderator's page: session state and its controls, presence, the roster and the audit log. */
import { startConsole } from './console.js';

startConsole({ role: 'moderator', audit: true });
