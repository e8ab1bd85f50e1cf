// Notifications: a link down for longer than the grace time, a failing server; each kind rate-limited.
import { describe, expect, it, vi } from 'vitest';

import type { LinkState, ServerInfo, Status } from '../../src-shared/control.js';
import { Notifier } from './notifier.js';

const status = (link: LinkState): Status => ({
  link,
  product: { name: 'gw', version: '1' },
  relay: null,
  subject: null,
  signedIn: false,
  autostart: true,
  notices: [],
});
const connected = status({
  state: 'connected',
  since: 0,
  relay: 'r',
  subject: 's',
  endpoints: {},
  local: true,
});

describe('notifications', () => {
  it('says so when the link stays down past the grace time, not for a blip, and not twice in a row', () => {
    vi.useFakeTimers();
    try {
      const sent: string[] = [];
      let now = 0;
      const notifier = new Notifier({
        notify: (title, body) => sent.push(`${title}: ${body}`),
        enabled: () => true,
        dropAfterMs: 5000,
        now: () => now,
      });
      notifier.status(connected);
      notifier.status(status({ state: 'connecting', attempt: 1, lastError: 'ECONNRESET' }));
      vi.advanceTimersByTime(2000);
      notifier.status(connected); // back within the grace time
      vi.advanceTimersByTime(10_000);
      expect(sent).toEqual([]);
      notifier.status(status({ state: 'connecting', attempt: 1, lastError: 'ECONNRESET' }));
      vi.advanceTimersByTime(5000);
      expect(sent).toEqual(['Connection lost: The link to the relay is down: ECONNRESET. Retrying.']);
      notifier.status(connected);
      notifier.status(status({ state: 'error', reason: 'x' }));
      now += 60_000;
      vi.advanceTimersByTime(5000);
      expect(sent).toHaveLength(1); // rate-limited
      notifier.status(status({ state: 'stopped' })); // the user disconnected: nothing to say
      expect(sent).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('reports a server that keeps failing, once per interval, and nothing when turned off', () => {
    const sent: string[] = [];
    let enabled = true;
    let now = 0;
    const notifier = new Notifier({ notify: (t) => sent.push(t), enabled: () => enabled, now: () => now });
    const failing: ServerInfo = {
      name: 'db',
      state: 'error',
      disabled: false,
      restarts: 3,
      lastError: 'exit 1',
    };
    notifier.servers([failing, { ...failing, name: 'ok', state: 'running', restarts: 5 }]);
    notifier.servers([failing]);
    expect(sent).toEqual(['db keeps failing']);
    now += 6 * 60_000;
    enabled = false;
    notifier.servers([failing]);
    expect(sent).toHaveLength(1);
  });
});
