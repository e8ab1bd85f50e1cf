// AppConsent's rules that the end-to-end test cannot time reliably: the first answer wins (the page's click
// after the app's, and the other way round), only the asked agent's answer counts, and a gone agent ends the
// wait. Real timers, a recorded frame sender.
import { afterEach, describe, expect, it } from 'vitest';

import type { RelayFrame } from '../src-shared/wire.js';
import { AppConsent, type ConsentAgent } from './app-consent.js';
import { silentLogger } from './relay-log.js';

const QUESTION = {
  subject: 'alice',
  client_id: 'client-1',
  client_name: 'Client',
  redirect_host: 'app.example',
  servers: ['files'],
};

function agent(subject = 'alice', features = ['consent']): ConsentAgent & { sent: RelayFrame[] } {
  const sent: RelayFrame[] = [];
  return { subject, features: new Set(features), sent, send: (frame) => void sent.push(frame) };
}

const open: AppConsent[] = [];
afterEach(() => open.splice(0).forEach((c) => c.close()));

function consent(agents: Map<string, ConsentAgent>, timeoutMs = 60_000): AppConsent {
  const c = new AppConsent({ agentOf: (s) => agents.get(s), timeoutMs, log: silentLogger });
  open.push(c);
  return c;
}

const idOf = (a: { sent: RelayFrame[] }) => (a.sent[0] as { consent_id: string }).consent_id;

describe('AppConsent', () => {
  it('asks only an agent that announced consent, once per authorization request', async () => {
    const old = agent('alice', ['cancel']);
    expect(await consent(new Map([['alice', old]])).ask('uid', QUESTION)).toBeUndefined();
    expect(old.sent).toEqual([]);
    const app = agent();
    const c = consent(new Map([['alice', app]]));
    expect(await c.ask('uid', QUESTION)).toBe('waiting');
    expect(await c.ask('uid', QUESTION)).toBe('waiting');
    expect(app.sent).toHaveLength(1);
    expect(app.sent[0]).toMatchObject({ type: 'consent_request', ...QUESTION, timeout_ms: 60_000 });
  });

  it("keeps the app's answer when the page is clicked after it, and the page's when the app answers late", async () => {
    const app = agent();
    const c = consent(new Map([['alice', app]]));
    await c.ask('a', QUESTION);
    await c.answered(app, { type: 'consent_answer', consent_id: idOf(app), allow: false });
    expect(await c.settle('a', 'allowed')).toBe('denied');

    const app2 = agent();
    const c2 = consent(new Map([['alice', app2]]));
    await c2.ask('b', QUESTION);
    expect(await c2.settle('b', 'allowed')).toBe('allowed');
    expect(app2.sent[1]).toEqual({ type: 'consent_closed', consent_id: idOf(app2), outcome: 'allowed' });
    await c2.answered(app2, { type: 'consent_answer', consent_id: idOf(app2), allow: false });
    expect(await c2.ask('b', QUESTION)).toBe('allowed');
  });

  it('ignores an answer from another agent connection, and stops waiting when the asked agent goes', async () => {
    const app = agent();
    const agents = new Map<string, ConsentAgent>([['alice', app]]);
    const c = consent(agents);
    await c.ask('a', QUESTION);
    await c.answered(agent(), { type: 'consent_answer', consent_id: idOf(app), allow: true });
    expect(await c.ask('a', QUESTION)).toBe('waiting');
    agents.set('alice', agent());
    expect(await c.ask('a', QUESTION)).toBe('timed-out');
  });

  it('times out: the page stops waiting and the app is told', async () => {
    const app = agent();
    const c = consent(new Map([['alice', app]]), 50);
    await c.ask('a', QUESTION);
    await new Promise<void>((resolve) => {
      const check = () => (app.sent.length > 1 ? resolve() : setTimeout(check, 10));
      check();
    });
    expect(app.sent[1]).toMatchObject({ type: 'consent_closed', outcome: 'timed-out' });
    expect(await c.ask('a', QUESTION)).toBe('timed-out');
  });
});
