// Consent answered from the app (issue 12): while the owner of a subject looks at the relay's consent page,
// the relay also asks the owner's agent (a `consent_request` frame, only to an agent that announced the
// `consent` feature), whose app shows a notification. Whichever answers first wins: the page's own buttons,
// or the app's `consent_answer`. The browser learns the app's answer by reloading the page every few seconds
// (a meta refresh: the relay's pages run no script); on the reload the relay finishes the authorization as if
// the owner had clicked there. When the app does not answer within the timeout, the page stops reloading and
// stays usable: the owner is at the browser, having just signed in there, and answers on the page.
import { randomBytes } from 'node:crypto';

import type { ConsentAnswerFrame, ConsentRequestFrame, RelayFrame } from '../src-shared/wire.js';
import type { RelayLogger } from './relay-log.js';

/** How the relay reaches a subject's agent for consent: its announced features and a frame sender. */
export interface ConsentAgent {
  readonly subject: string;
  readonly features: ReadonlySet<string>;
  send(frame: RelayFrame): void;
}

/** Where an app consent stands, as the consent page reads it. */
export type AppConsentState =
  /** Asked; the app has not answered yet. */
  | 'waiting'
  | 'allowed'
  | 'denied'
  /** The app did not answer in time, or its agent went away: the page's buttons decide. */
  | 'timed-out';

interface Asked {
  consentId: string;
  subject: string;
  agent: ConsentAgent;
  state: AppConsentState;
  timer: NodeJS.Timeout;
  /** Epoch ms after which the record is forgotten (the interaction is long over). */
  forgetAt: number;
}

/** What the consent page asks the app about (the fields of ConsentRequestFrame). */
export type ConsentQuestion = Pick<
  ConsentRequestFrame,
  'subject' | 'client_id' | 'client_name' | 'client_uri' | 'redirect_host' | 'servers'
>;

export interface AppConsentOptions {
  /** The connected agent of a subject, if any (in this relay process). */
  agentOf(subject: string): ConsentAgent | undefined;
  /** How long the page waits for the app, in ms. Default 120 000. */
  timeoutMs?: number;
  /** How long a record is kept at all, in ms (the authorization request's lifetime). Default 600 000. */
  keepMs?: number;
  log: RelayLogger;
}

/**
 * The app consents in flight on this relay, keyed by the authorization request's interaction id. Records live
 * in this process only: a browser whose reloads reach another relay of a cluster sees the page's buttons.
 */
export class AppConsent {
  readonly #asked = new Map<string, Asked>();
  readonly #byConsentId = new Map<string, string>();
  readonly #timeoutMs: number;

  constructor(private readonly options: AppConsentOptions) {
    this.#timeoutMs = options.timeoutMs ?? 120_000;
  }

  /** The page's reload interval, in seconds, while the app is asked. */
  static readonly RELOAD_SECONDS = 2;

  /**
   * Where the app consent of interaction `uid` stands: asks the subject's agent the first time (when it is
   * connected and announced `consent`), and says undefined when there is no app to ask.
   */
  ask(uid: string, question: ConsentQuestion): AppConsentState | undefined {
    const known = this.#asked.get(uid);
    if (known) {
      // The app's agent went away (or was superseded) while asked: it can no longer answer.
      if (known.state === 'waiting' && this.options.agentOf(known.subject) !== known.agent)
        this.#end(known, 'timed-out', false);
      return known.state;
    }
    const agent = this.options.agentOf(question.subject);
    if (!agent?.features.has('consent')) return undefined;
    const consentId = randomBytes(16).toString('base64url');
    const asked: Asked = {
      consentId,
      subject: question.subject,
      agent,
      state: 'waiting',
      timer: setTimeout(() => {
        this.options.log.info(`the app of "${asked.subject}" did not answer a consent request in time`);
        this.#end(asked, 'timed-out', true);
      }, this.#timeoutMs).unref(),
      forgetAt: Date.now() + (this.options.keepMs ?? 600_000),
    };
    this.#asked.set(uid, asked);
    this.#byConsentId.set(consentId, uid);
    agent.send({ type: 'consent_request', consent_id: consentId, ...question, timeout_ms: this.#timeoutMs });
    return 'waiting';
  }

  /**
   * The app's answer, from the agent connection of `from.subject`. Ignored (logged) when the request is
   * unknown, not that subject's, or already answered: the first answer wins.
   */
  answered(from: ConsentAgent, frame: ConsentAnswerFrame): void {
    const uid = this.#byConsentId.get(frame.consent_id);
    const asked = uid === undefined ? undefined : this.#asked.get(uid);
    if (!asked || asked.agent !== from) {
      this.options.log.debug(`agent ${from.subject}: ignoring an answer to an unknown consent request`);
      return;
    }
    if (asked.state !== 'waiting') {
      this.options.log.debug(`agent ${from.subject}: ignoring a late consent answer (${asked.state})`);
      return;
    }
    this.options.log.info(
      `the app of "${asked.subject}" ${frame.allow ? 'allowed' : 'denied'} a client's access (consent request)`,
    );
    this.#end(asked, frame.allow ? 'allowed' : 'denied', false);
  }

  /**
   * The page's own buttons answered interaction `uid`: the app stops showing it. Resolves the answer that
   * stands: the app's when it answered first, else `outcome`.
   */
  settle(uid: string, outcome: 'allowed' | 'denied'): 'allowed' | 'denied' {
    const asked = this.#asked.get(uid);
    if (!asked) return outcome;
    if (asked.state === 'allowed' || asked.state === 'denied') return asked.state;
    this.#end(asked, outcome, true);
    return outcome;
  }

  /** Forgets interaction `uid` (its authorization finished). */
  forget(uid: string): void {
    const asked = this.#asked.get(uid);
    if (!asked) return;
    clearTimeout(asked.timer);
    this.#asked.delete(uid);
    this.#byConsentId.delete(asked.consentId);
  }

  /** Forgets what is long over; the relay calls it every minute. */
  tick(now = Date.now()): void {
    for (const [uid, asked] of this.#asked) if (asked.forgetAt <= now) this.forget(uid);
  }

  /** Stops every timer (the relay is closing). */
  close(): void {
    for (const uid of [...this.#asked.keys()]) this.forget(uid);
  }

  #end(asked: Asked, state: Exclude<AppConsentState, 'waiting'>, tellApp: boolean): void {
    clearTimeout(asked.timer);
    asked.state = state;
    // The app stops showing a request it can no longer answer (a gone agent hears nothing).
    if (tellApp && this.options.agentOf(asked.subject) === asked.agent)
      asked.agent.send({ type: 'consent_closed', consent_id: asked.consentId, outcome: state });
  }
}
