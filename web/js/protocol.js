// @ts-check
/**
 * The Hemicycle protocol client: the Socket.IO connection of docs/protocol.md, as HemicycleClient.
 *
 * It is put together here from a core and one module per concern of the protocol, mirroring the server's
 * (protocol/):
 *   core.js        the connection (reconnecting with jitter), requests and acknowledgements, errors; who I
 *                  am, the session, its event, presence and the roster
 *   queue.js       the speakers' queue and the floor            questions.js   questions and votes
 *   captions.js    live captions                                media.js       media signalling
 *   moderation.js  the waiting room, removals, bans, mutes
 *   help.js        the help desk: my requests, and the staff's queue of them
 *   errors.js      ProtocolError                                http.js        the HTTP routes any page calls
 *   organiser.js   the organiser's routes (links, agenda, records)
 *   polls.js       live polls (issue 24)                        recording.js   recording (issue 22)
 *   polls.js       live polls (issue 24)
 *   booths.js      interpretation booths: who is on air, handovers, the floor's language (issue 21)
 *   statements.js  statements sent in advance with a request (issue 21)
 * The payload types are generated from the server's models: ../protocol-types.js (docs/protocol.md, "Message
 * types").
 *
 * None of it touches the page: page modules read the state through getters and re-render when the client
 * dispatches an event. State is always updated *before* the event is dispatched, so a listener that reads
 * `client.session` sees the new value.
 *
 * Events dispatched by HemicycleClient (`client.on(name, detail => ...)`):
 *   connection        {state, previous, refusal}          connection state changed
 *   welcome           Welcome                             (re)connected; every field of the state is fresh
 *   session:state     {session, by, previous}             the session changed state (from anyone, or our ack)
 *   presence          PresenceSummary                     counts changed
 *   presence:people   {session_id, people}                roster changed (staff only)
 *   floor             {floor, previous}                   who speaks, the countdown, the next two (everyone)
 *   queue:mine        {mine, previous}                    my own request: place in line, or my turn
 *                                                         (also when a newer `queue:line` moves my place)
 *   queue             {queue, previous}                   the whole queue, record, balance (staff only)
 *   questions:public  {questions, previous}               approved questions and the one read aloud (everyone),
 *                                                         from the welcome, a re-read, or a `questions:changed`
 *   questions:mine    {mine, previous}                    my own questions and my votes
 *   questions         {moderation, previous}              every question, with askers and history (staff only),
 *                                                         from the welcome, a re-read, or a `questions:staff_changed`
 *   caption           {caption}                           a caption line, stored, new to this client (everyone)
 *   media:stopped     {resource_id, source, reason}       the relay ended one of my media connections
 *   media:health      MediaHealth                         the relay's health figures (AV desk, floor staff)
 *   media:channels    {onAir}                             the interpretation channels on air
 *   waiting           Waiting                             held in the waiting room (nothing else comes)
 *   moderation:admitted  Admitted                         let in: the welcome follows
 *   moderation:removed   Removed                          removed or banned; the server closes the connection
 *   moderation:muted     MutedNotice                      muted or unmuted by staff
 *   moderation        {moderation, previous}              the participants' moderation state (admins, moderators)
 *   help              {mine, queue}                       my help requests, or the staff's queue, changed
 *   polls             {staff}                             the polls changed (the room's list, or staff's
 *                                                         with `staff`), or my answers
 *   recording         {recording, previous}               a recording started, stopped or failed (everyone)
 *   booths            {booth}                             a booth changed (null: all read again)
 *   booth:floor       {floor}                             the floor as booths see it (language, next two)
 *   booth:notice      {notice}                            a booth asked the speaker to slow down
 *   statements        {statement}                         a statement in advance was attached (or the list re-read:
 *                                                         statement null)
 *   error             ServerError & {handledByRequest}    the server reported an error on the socket
 */

import { ClientCore } from './protocol/core.js';
import { withBooths } from './protocol/booths.js';
import { withCaptions } from './protocol/captions.js';
import { withHelp } from './protocol/help.js';
import { withMedia } from './protocol/media.js';
import { withModeration } from './protocol/moderation.js';
import { withPolls } from './protocol/polls.js';
import { withQuestions } from './protocol/questions.js';
import { withQueue } from './protocol/queue.js';
import { withRecording } from './protocol/recording.js';
import { withStatements } from './protocol/statements.js';

/**
 * One connection to one session, and the state it brings: the core and every concern.
 */
export class HemicycleClient extends withStatements(withBooths(withRecording(withPolls(
  withHelp(withModeration(withMedia(withCaptions(withQuestions(withQueue(ClientCore)))))),
)))) {}

// The names the pages' JSDoc uses for payload types (`import('./protocol.js').Session`...): the generated
// types of protocol-types.js, and the client's own.
/** @typedef {import('./protocol-types.js').Session} Session */
/** @typedef {import('./protocol-types.js').Event} HemicycleEvent */
/** @typedef {import('./protocol-types.js').Me} Me */
/** @typedef {import('./protocol-types.js').Participant} Participant */
/** @typedef {import('./protocol-types.js').Person} Person */
/** @typedef {import('./protocol-types.js').Summary} PresenceSummary */
/** @typedef {import('./protocol-types.js').Actor} Actor */
/** @typedef {import('./protocol-types.js').Timer} Timer */
/** @typedef {import('./protocol-types.js').Entry} Entry */
/** @typedef {import('./protocol-types.js').StaffEntry} StaffEntry */
/** @typedef {import('./protocol-types.js').Floor} Floor */
/** @typedef {import('./protocol-types.js').Mine} Mine */
/** @typedef {import('./protocol-types.js').LastRequest} MineLast */
/** @typedef {import('./protocol-types.js').QueueAddInRoom} InRoomRequest */
/** @typedef {import('./protocol-types.js').PublicQuestion} PublicQuestion */
/** @typedef {import('./protocol-types.js').OwnQuestion} OwnQuestion */
/** @typedef {import('./protocol-types.js').StaffQuestion} StaffQuestion */
/** @typedef {import('./protocol-types.js').Edit} QuestionEditRecord */
/** @typedef {import('./protocol-types.js').CaptionLine} CaptionLine */
/** @typedef {import('./protocol-types.js').Admission} Admission */
/** @typedef {import('./protocol-types.js').ModerationState} ModerationState */
/** @typedef {import('./protocol-types.js').MutedNotice} MutedMessage */
/** @typedef {import('./protocol/core.js').ConnectionState} ConnectionState */
/** @typedef {import('./protocol/errors.js').ProtocolError} ProtocolError */
/** @typedef {import('./protocol/http.js').Registration} Registration */
/** @typedef {import('./protocol/http.js').AuditEntry} AuditEntry */
/** @typedef {import('./protocol/organiser.js').ReportPart} ReportPart */
