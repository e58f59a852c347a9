// @ts-check
/** The captioner's page: session state and who is connected (caption input comes later). */
import { startConsole } from './console.js';

startConsole({ role: 'captioner' });
