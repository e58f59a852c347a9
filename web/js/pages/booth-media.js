// @ts-check
/**
 * The interpretation booth (docs/protocol.md "Interpretation booths"): publish one language channel (sound
 * only) from a microphone picked in the browser, with partners of the same booth. One of them is on air (the
 * relay forwards that one's voice); the page shows who and for how long, offers the handover or takes it, holds
 * the cough key (the microphone ramps down over 30 ms, then the relay sends silence on a channel that stays on
 * air), sends "slow down" to the chair, and plays the floor (or another booth's output: relay) at the
 * interpreter's own volume. The floor's language and the next two speakers come from `booth:floor`.
 * Kept up by js/media.js; the booth's state by js/protocol/booths.js.
 */

import { CHANNELS, MediaClient } from '../media.js';
import { languageLabel } from '../labels.js';
import { msg, t } from '../i18n.js';
import { formatDuration } from '../timer.js';
import { el, errorText, fill } from '../ui.js';

/** @typedef {import('../media.js').MediaLink} MediaLink */
/** @typedef {import('../protocol-types.js').BoothView} BoothView */

/** How long the microphone takes to fade out or in around the cough key: no click. */
const RAMP_SECONDS = 0.03;

export class InterpreterBooth {
  /**
   * @param {import('../protocol.js').HemicycleClient} client
   * @param {HTMLElement} root
   */
  constructor(client, root) {
    this.client = client;
    this.media = new MediaClient(client);
    /** @type {MediaLink | null} */ this.link = null;
    /** @type {MediaStream | null} */ this.stream = null;
    /** @type {MediaLink | null} */ this.listening = null;
    /** @type {AudioContext | null} */ this.audio = null;
    /** @type {GainNode | null} */ this.gain = null;
    this.coughing = false;
    this.channel = /** @type {HTMLSelectElement} */ (el('select', { id: 'booth-channel', testid: 'booth-channel' }));
    this.#fillChannels();
    this.microphone = /** @type {HTMLSelectElement} */ (el('select', { id: 'booth-microphone' }));
    this.button = /** @type {HTMLButtonElement} */ (el('button', { type: 'button', testid: 'booth-publish' },
      msg('Go on air')));
    this.status = el('p', { role: 'status', testid: 'booth-state' });
    // Who is on air in the booth, and for how long; the handover and the cough key.
    this.onAir = el('p', { class: 'booth-on-air', testid: 'booth-on-air', 'data-on-air': 'none' });
    this.offer = /** @type {HTMLButtonElement} */ (el('button', { type: 'button', testid: 'booth-offer' },
      msg('Offer the handover')));
    this.take = /** @type {HTMLButtonElement} */ (el('button', { type: 'button', testid: 'booth-take' },
      msg('Take over')));
    this.cough = /** @type {HTMLButtonElement} */ (el('button', {
      type: 'button', testid: 'booth-cough', 'aria-pressed': 'false',
    }, msg('Cough key (hold)')));
    this.slow = /** @type {HTMLButtonElement} */ (el('button', { type: 'button', testid: 'booth-slow-down' },
      msg('Ask the speaker to slow down')));
    this.feedback = el('p', { role: 'status', testid: 'booth-feedback' });
    // The floor as the booth sees it.
    this.floor = el('p', { testid: 'booth-floor' });
    this.stayOff = el('p', { class: 'notice', testid: 'booth-stay-off', role: 'alert', hidden: true });
    // Listening: the floor or another booth (relay), at the interpreter's own volume.
    this.listen = /** @type {HTMLSelectElement} */ (el('select', { id: 'booth-listen', testid: 'booth-listen' }));
    this.#fillListen();
    this.volume = /** @type {HTMLInputElement} */ (el('input', {
      id: 'booth-volume', testid: 'booth-volume', type: 'range', min: '0', max: '100', value: '80',
    }));
    this.hear = /** @type {HTMLButtonElement} */ (el('button', { type: 'button', testid: 'booth-hear' },
      msg('Listen')));
    this.player = /** @type {HTMLAudioElement} */ (el('audio', { testid: 'booth-audio', autoplay: true }));
    const body = el('div', { class: 'panel-body' },
      el('p', {}, el('label', { for: 'booth-channel' }, msg('Language channel')), ' ', this.channel),
      el('p', {}, el('label', { for: 'booth-microphone' }, msg('Microphone')), ' ', this.microphone),
      el('p', { class: 'actions' }, this.button), this.status,
      this.onAir,
      el('p', { class: 'actions' }, this.offer, ' ', this.take, ' ', this.cough, ' ', this.slow),
      this.feedback,
      el('h3', {}, msg('The floor')), this.floor, this.stayOff,
      el('p', {}, el('label', { for: 'booth-listen' }, msg('Listen to')), ' ', this.listen, ' ',
        el('label', { for: 'booth-volume' }, msg('Volume')), ' ', this.volume, ' ', this.hear),
      this.player);
    root.prepend(el('section', { class: 'panel', id: 'booth', 'aria-labelledby': 'booth-heading' },
      el('h2', { id: 'booth-heading' }, msg('Interpretation channel')), body));
    this.button.addEventListener('click', () => this.toggle());
    this.offer.addEventListener('click', () => this.#act(() => client.offerBooth(this.channel.value)));
    this.take.addEventListener('click', () => this.#act(() => client.takeBooth(this.channel.value)));
    this.slow.addEventListener('click', () => this.#act(async () => {
      await client.slowDown(this.channel.value);
      this.feedback.textContent = t('The chair was asked to slow the speaker down.');
    }));
    this.cough.addEventListener('pointerdown', () => this.setCough(true));
    for (const end of ['pointerup', 'pointerleave', 'pointercancel']) {
      this.cough.addEventListener(end, () => this.setCough(false));
    }
    this.cough.addEventListener('keydown', (event) => {
      if ((event.key === ' ' || event.key === 'Enter') && !event.repeat) { event.preventDefault(); this.setCough(true); }
    });
    this.cough.addEventListener('keyup', (event) => {
      if (event.key === ' ' || event.key === 'Enter') { event.preventDefault(); this.setCough(false); }
    });
    this.hear.addEventListener('click', () => this.toggleListening());
    this.listen.addEventListener('change', () => { this.listening?.setChannel(this.listen.value); });
    this.volume.addEventListener('input', () => { this.player.volume = Number(this.volume.value) / 100; });
    this.player.volume = Number(this.volume.value) / 100;
    this.channel.addEventListener('change', () => this.render());
    client.on('booths', () => { this.#fillChannels(); this.render(); });
    client.on('booth:floor', () => this.renderFloor());
    this.ticker = setInterval(() => this.renderOnAir(), 1000);
    this.fillMicrophones();
    this.render();
  }

  async fillMicrophones() {
    try {
      const devices = await navigator.mediaDevices.enumerateDevices();
      fill(this.microphone, devices.filter((d) => d.kind === 'audioinput')
        .map((d, i) => el('option', { value: d.deviceId }, d.label || t('Microphone {number}', { number: i + 1 }))));
    } catch { /* no devices to list: the browser's default is used */ }
  }

  async toggle() {
    if (this.link) {
      this.link.stop();
      this.link = null;
      for (const track of this.stream?.getTracks() ?? []) track.stop();
      this.stream = null;
      this.audio?.close().catch(() => {});
      this.audio = null;
      this.gain = null;
      this.button.textContent = t('Go on air');
      this.status.textContent = t('Off air.');
      this.channel.disabled = false;
      this.render();
      return;
    }
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: this.microphone.value ? { deviceId: { exact: this.microphone.value } } : true, video: false,
      });
    } catch (error) {
      this.status.textContent = t('The microphone could not be opened: {reason}', { reason: /** @type {Error} */ (error).message });
      return;
    }
    this.channel.disabled = true;
    this.link = this.media.publish({ source: 'channel', channel: this.channel.value, stream: this.#throughGain(this.stream) });
    this.link.addEventListener('state', (event) => {
      const { state, error } = /** @type {CustomEvent} */ (event).detail;
      this.status.dataset.state = state;
      this.status.textContent = state === 'stopped' && error ? errorText(error) : this.#stateWords(state);
      this.render();
    });
    this.button.textContent = t('Go off air');
  }

  /**
   * The microphone through a gain the cough key ramps, so that its voice fades rather than stops.
   * @param {MediaStream} stream
   * @returns {MediaStream}
   */
  #throughGain(stream) {
    try {
      const audio = new AudioContext();
      const gain = audio.createGain();
      const out = audio.createMediaStreamDestination();
      audio.createMediaStreamSource(stream).connect(gain).connect(out);
      this.audio = audio;
      this.gain = gain;
      return out.stream;
    } catch {
      return stream; // no Web Audio: the relay's silence alone keeps the cough key
    }
  }

  /**
   * Hold or release the cough key: fade the microphone out, then the relay sends silence (the channel stays
   * on air); on release, the relay forwards the voice again as it fades back in.
   * @param {boolean} on
   */
  async setCough(on) {
    if (on === this.coughing || !this.link) return;
    this.coughing = on;
    this.cough.setAttribute('aria-pressed', String(on));
    const gain = this.gain;
    const now = this.audio?.currentTime ?? 0;
    if (gain) {
      gain.gain.cancelScheduledValues(now);
      gain.gain.setValueAtTime(gain.gain.value, now);
      gain.gain.linearRampToValueAtTime(on ? 0 : 1, now + RAMP_SECONDS);
    }
    await this.#act(() => this.client.coughBooth(this.channel.value, on));
  }

  async toggleListening() {
    if (this.listening) {
      this.listening.stop();
      this.listening = null;
      delete this.hear.dataset.state;
      this.player.srcObject = null;
      this.hear.textContent = t('Listen');
      return;
    }
    this.listening = this.media.subscribe({ source: 'room', channel: this.listen.value, audioOnly: true });
    this.listening.addEventListener('state', (event) => {
      this.hear.dataset.state = /** @type {CustomEvent} */ (event).detail.state;
    });
    this.listening.addEventListener('stream', (event) => {
      this.player.srcObject = /** @type {CustomEvent} */ (event).detail.stream;
      this.player.play().catch(() => {});
    });
    this.hear.textContent = t('Stop listening');
  }

  /** @param {() => Promise<unknown>} action */
  async #act(action) {
    this.feedback.textContent = '';
    try {
      await action();
    } catch (error) {
      this.feedback.textContent = errorText(error);
    }
  }

  /** The booth the page works in, as last told. @returns {BoothView | undefined} */
  get booth() { return this.client.booths.get(this.channel.value); }

  render() {
    const booth = this.booth;
    const me = this.client.me?.id;
    const publishing = !!this.link && this.link.state === 'connected';
    const mine = !!booth && booth.on_air === me;
    this.offer.disabled = !publishing || !mine || !!booth?.offered;
    this.take.disabled = !publishing || mine || (!!booth?.on_air && !booth?.offered);
    this.cough.disabled = !publishing;
    this.slow.disabled = !publishing;
    if (this.link && this.link.state === 'connected') this.status.textContent = this.#stateWords('connected');
    this.renderOnAir();
    this.renderFloor();
  }

  renderOnAir() {
    const booth = this.booth;
    const me = this.client.me?.id;
    if (!booth || booth.on_air === null) {
      this.onAir.dataset.onAir = 'none';
      this.onAir.textContent = t('Nobody is on air in this booth.');
      return;
    }
    const since = booth.since ? Math.max(0, (Date.now() - Date.parse(booth.since)) / 1000) : 0;
    const words = { name: booth.on_air_name ?? '', time: formatDuration(Math.floor(since)) };
    this.onAir.dataset.onAir = booth.on_air === me ? 'me' : 'partner';
    this.onAir.dataset.silenced = String(booth.silenced);
    this.onAir.textContent = booth.on_air === me
      ? t('You are on air, for {time}.', words) : t('On air: {name}, for {time}.', words);
    if (booth.offered) this.onAir.textContent += ` ${t('The handover is offered.')}`;
  }

  renderFloor() {
    const floor = this.client.boothFloor;
    if (!floor || !floor.speaker) {
      this.floor.textContent = t('Nobody holds the floor.');
    } else {
      const next = floor.next.map((n) => (n.language ? languageLabel(n.language) : n.name));
      const language = floor.language ? languageLabel(floor.language) : t('unknown language');
      this.floor.textContent = next.length === 2 ? t('Floor: {language}. Next: {first}, then {second}.', { language, first: next[0], second: next[1] })
        : next.length === 1 ? t('Floor: {language}. Next: {first}.', { language, first: next[0] })
          : t('Floor: {language}.', { language });
    }
    const stay = !!floor?.stay_off_air && floor.stay_off_air === this.channel.value;
    this.stayOff.hidden = !stay;
    this.stayOff.textContent = stay
      ? t('The speaker speaks {language}: stay off air, your listeners hear the floor.', { language: languageLabel(this.channel.value) })
      : '';
  }

  /** @param {string} state  the link's */
  #stateWords(state) {
    if (state === 'connected') {
      const booth = this.booth;
      const language = languageLabel(this.channel.value);
      return booth && booth.on_air !== null && booth.on_air !== this.client.me?.id
        ? t('Standing by: {language}.', { language }) : t('On air: {language}.', { language });
    }
    return state === 'connecting' ? t('Connecting…') : state === 'retrying' ? t('Reconnecting…') : state;
  }

  #fillChannels() {
    const chosen = this.channel.value;
    const mine = this.client.boothsMine;
    const languages = CHANNELS.filter((c) => c !== 'floor' && (!mine.length || mine.includes(c)));
    fill(this.channel, languages.map((c) => el('option', { value: c }, languageLabel(c))));
    if (chosen && languages.includes(chosen)) this.channel.value = chosen;
  }

  #fillListen() {
    const chosen = this.listen.value;
    fill(this.listen, CHANNELS.map((c) => el('option', { value: c },
      c === 'floor' ? t('The floor') : t('Relay: {language}', { language: languageLabel(c) }))));
    if (chosen) this.listen.value = chosen;
  }

  /** The words again after a change of the page's language; the channel stays on air. */
  relabel() {
    this.#fillChannels();
    this.#fillListen();
    this.button.textContent = this.link ? t('Go off air') : t('Go on air');
    this.hear.textContent = this.listening ? t('Stop listening') : t('Listen');
    if (this.link && this.link.state !== 'stopped') this.status.textContent = this.#stateWords(this.link.state);
    this.fillMicrophones();
    this.render();
  }
}
