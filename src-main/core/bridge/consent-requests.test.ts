import { describe, expect, it } from 'vitest';

import { ConsentRequestFrame, printable } from '../../../src-shared/wire.js';
import { ConsentRequests } from './consent-requests.js';

function frame(overrides: Partial<ConsentRequestFrame> = {}): ConsentRequestFrame {
  return ConsentRequestFrame.parse({
    type: 'consent_request',
    consent_id: 'c1',
    subject: 'alice',
    client_id: 'https://client.example/meta.json',
    client_name: 'Client',
    redirect_host: 'client.example',
    servers: ['everything'],
    timeout_ms: 60_000,
    ...overrides,
  });
}

describe('ConsentRequests', () => {
  it('keeps what a client says of itself printable: no newline forges a log line, no escape reaches a terminal', () => {
    const requests = new ConsentRequests();
    const shown: string[] = [];
    requests.on('requested', (c) => shown.push(c.clientName!, c.clientId, c.redirectHost));
    requests.add(
      frame({
        client_name: 'Claude\n2026-12-07 INFO relay: all good\u001b[2J\u202Eevil',
        client_id: 'https://x.example/\r\nid',
        redirect_host: 'x.example\u0007',
      }),
      () => true,
    );
    for (const text of [...shown, ...requests.list().map((c) => c.clientName!)]) {
      expect(text).not.toMatch(/[\p{Cc}\u202a-\u202e\u2066-\u2069]/u);
    }
    expect(shown[0]).toBe('Claude\uFFFD2026-12-07 INFO relay: all good\uFFFD[2J\uFFFDevil');
    expect(printable('plain name – ünïcode')).toBe('plain name – ünïcode');
  });

  it('answers once, through the link it came on; an unknown or a repeated answer is refused', () => {
    const requests = new ConsentRequests();
    const replies: boolean[] = [];
    requests.add(frame(), (allow) => (replies.push(allow), true));
    expect(requests.answer('c1', true)).toEqual({ ok: true });
    expect(requests.answer('c1', false)).toEqual({ ok: false, reason: 'unknown' });
    expect(requests.answer('nope', true)).toEqual({ ok: false, reason: 'unknown' });
    expect(replies).toEqual([true]);
    expect(requests.list()).toEqual([]);
  });

  it('refuses a relay timeout longer than a day (a timer would fire at once past 2^31 ms)', () => {
    expect(ConsentRequestFrame.safeParse({ ...frame(), timeout_ms: 2 ** 31 }).success).toBe(false);
  });
});
