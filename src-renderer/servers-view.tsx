// The servers of mcp.json: state, counts, pid, uptime and last error (with the server's last stderr
// lines); add, edit, remove, enable/disable and restart. The list follows the gateway's `servers` event,
// so an edit of mcp.json on disk shows up as soon as the gateway's watcher applies it.
import { Fragment } from 'preact';
import { useEffect, useState } from 'preact/hooks';

import type { ServerDetail, ServerInfo } from '../src-shared/control.js';
import type { Channel } from './client.js';
import { formatDuration } from './hooks.js';
import { ServerForm } from './server-form.js';

type Mode =
  { kind: 'list' } | { kind: 'add' } | { kind: 'edit'; name: string; entry: Record<string, unknown> };

export function ServersView(props: { channel: Channel; servers: ServerInfo[]; say: (text: string) => void }) {
  const { channel, servers, say } = props;
  const { client } = channel;
  const [mode, setMode] = useState<Mode>({ kind: 'list' });
  const [open, setOpen] = useState<string>();
  const [detail, setDetail] = useState<ServerDetail>();
  const [confirm, setConfirm] = useState<string>();
  const [now, setNow] = useState(Date.now());

  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);

  // The open server's details follow its state (a crash brings new stderr lines).
  const openInfo = servers.find((s) => s.name === open);
  useEffect(() => {
    if (!open) return setDetail(undefined);
    void client.servers.get({ name: open }).then((r) => setDetail(r.ok ? r.value : undefined));
  }, [client, open, openInfo?.state, openInfo?.lastError]);

  const act = async (
    label: string,
    run: () => Promise<{ ok: true } | { ok: false; message: string }>,
  ): Promise<void> => {
    const result = await run();
    say(result.ok ? label : result.message);
  };
  const edit = async (name: string) => {
    const r = await client.servers.get({ name });
    if (!r.ok) return say(r.message);
    setMode({ kind: 'edit', name, entry: r.value.entry ?? {} });
  };

  if (mode.kind !== 'list') {
    return (
      <ServerForm
        client={client}
        {...(mode.kind === 'edit' ? { editing: { name: mode.name, entry: mode.entry } } : {})}
        onDone={(message) => {
          say(message);
          setMode({ kind: 'list' });
        }}
        onCancel={() => setMode({ kind: 'list' })}
      />
    );
  }

  return (
    <section aria-labelledby="servers-title" class="card">
      <div class="bar">
        <h2 id="servers-title">Servers</h2>
        <span class="spacer" />
        <button type="button" onClick={() => setMode({ kind: 'add' })}>
          Add server
        </button>
      </div>
      {servers.length === 0 ? (
        <p class="muted">No servers in mcp.json yet.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">State</th>
              <th scope="col">Tools / resources / prompts</th>
              <th scope="col">PID</th>
              <th scope="col">Uptime</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {servers.map((s) => (
              <Fragment key={s.name}>
                <tr data-server={s.name}>
                  <td>
                    <button
                      type="button"
                      class="link"
                      aria-expanded={open === s.name}
                      onClick={() => setOpen(open === s.name ? undefined : s.name)}
                    >
                      {s.name}
                    </button>
                    {s.description && <div class="muted">{s.description}</div>}
                  </td>
                  <td>
                    <span class={`badge ${s.state}`} data-testid="server-state">
                      {s.disabled ? 'disabled' : s.state}
                    </span>
                    {s.lastError && (
                      <div class="error-text" data-testid="last-error">
                        {s.lastError}
                      </div>
                    )}
                  </td>
                  <td data-testid="counts">
                    {s.counts ? `${s.counts.tools} / ${s.counts.resources} / ${s.counts.prompts}` : '—'}
                  </td>
                  <td data-testid="pid">{s.pid ?? '—'}</td>
                  <td>{s.state === 'running' && s.startedAt ? formatDuration(now - s.startedAt) : '—'}</td>
                  <td>
                    <div class="row-actions">
                      <button
                        type="button"
                        class="small"
                        aria-label={`Edit ${s.name}`}
                        onClick={() => void edit(s.name)}
                      >
                        Edit
                      </button>
                      <button
                        type="button"
                        class="small"
                        aria-label={`Restart ${s.name}`}
                        disabled={s.disabled}
                        onClick={() =>
                          void act(`Restarting ${s.name}.`, () => client.servers.restart({ name: s.name }))
                        }
                      >
                        Restart
                      </button>
                      <button
                        type="button"
                        class="small"
                        aria-label={`${s.disabled ? 'Enable' : 'Disable'} ${s.name}`}
                        onClick={() =>
                          void act(`${s.disabled ? 'Enabled' : 'Disabled'} ${s.name}.`, () =>
                            s.disabled
                              ? client.servers.enable({ name: s.name })
                              : client.servers.disable({ name: s.name }),
                          )
                        }
                      >
                        {s.disabled ? 'Enable' : 'Disable'}
                      </button>
                      {confirm === s.name ? (
                        <>
                          <button
                            type="button"
                            class="small danger"
                            aria-label={`Remove it: ${s.name}`}
                            onClick={() => {
                              setConfirm(undefined);
                              void act(`Removed ${s.name}.`, () => client.servers.remove({ name: s.name }));
                            }}
                          >
                            Remove it
                          </button>
                          <button type="button" class="small" onClick={() => setConfirm(undefined)}>
                            Keep
                          </button>
                        </>
                      ) : (
                        <button
                          type="button"
                          class="small"
                          aria-label={`Remove ${s.name}`}
                          onClick={() => setConfirm(s.name)}
                        >
                          Remove
                        </button>
                      )}
                    </div>
                  </td>
                </tr>
                {open === s.name && (
                  <tr class="detail-row">
                    <td colSpan={6}>
                      <dl>
                        <dt>Runs</dt>
                        <dd>
                          <code>{s.target ?? '—'}</code>
                        </dd>
                        {s.endpoint && (
                          <>
                            <dt>Endpoint</dt>
                            <dd>
                              <code>{s.endpoint}</code>
                            </dd>
                          </>
                        )}
                        {detail?.entryError && (
                          <>
                            <dt>Entry</dt>
                            <dd class="error-text">{detail.entryError}</dd>
                          </>
                        )}
                        <dt>Last output</dt>
                        <dd>
                          {detail && detail.output.length > 0 ? (
                            <pre class="output" data-testid="server-output">
                              {detail.output.join('\n')}
                            </pre>
                          ) : (
                            <span class="muted">nothing on stderr</span>
                          )}
                        </dd>
                      </dl>
                    </td>
                  </tr>
                )}
              </Fragment>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
