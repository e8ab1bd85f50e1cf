// The recent remote calls: time, server, method and tool, duration, outcome — what remote clients did with
// the local servers. Loaded on open, then one row per `activity` event. No arguments or results: the
// gateway does not keep them.
import { useEffect, useState } from 'preact/hooks';

import type { CallRecord } from '../src-shared/control.js';
import type { Channel } from './client.js';
import { useOpen } from './hooks.js';

const KEEP = 500;

export function ActivityView({ channel }: { channel: Channel }) {
  const { client } = channel;
  const open = useOpen(channel);
  const [calls, setCalls] = useState<CallRecord[]>([]);

  useEffect(() => {
    if (!open) return;
    const off = client.subscribe('activity', (record) =>
      setCalls((all) => [...all.filter((c) => c.seq !== record.seq), record].slice(-KEEP)),
    );
    void client.activity.recent().then((r) => r.ok && setCalls(r.value));
    return off;
  }, [client, open]);

  return (
    <section aria-labelledby="activity-title" class="card">
      <h2 id="activity-title">Activity</h2>
      {calls.length === 0 ? (
        <p class="muted">No remote call yet. Calls made through the endpoints show up here.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Server</th>
              <th scope="col">Client session</th>
              <th scope="col">Call</th>
              <th scope="col">Duration</th>
              <th scope="col">Outcome</th>
            </tr>
          </thead>
          <tbody>
            {[...calls].reverse().map((c) => (
              <tr key={c.seq} data-testid="call">
                <td>{new Date(c.time).toLocaleTimeString(undefined, { hour12: false })}</td>
                <td>{c.server}</td>
                <td data-testid="call-session">{c.session ?? '—'}</td>
                <td>
                  <code>{c.method}</code> {c.target && <strong>{c.target}</strong>}
                </td>
                <td>{c.durationMs} ms</td>
                <td>
                  <span class={`badge ${c.outcome === 'ok' ? 'running' : 'error'}`}>{c.outcome}</span>
                  {c.error && <div class="error-text">{c.error}</div>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
