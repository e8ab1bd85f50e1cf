// The MCP clients that can reach this agent (issue 12): the client tokens created here (name, servers,
// expiry — never the token after it was shown once) and the OAuth clients the owner allowed on the relay's
// consent page. "New client token" shows the token and a ready client config once, with copy buttons;
// "Revoke" asks first, then ends the access at the relay at once. Errors (no relay, not signed in, relay
// unreachable) are shown as the gateway words them, with their fix.
import { useEffect, useState } from 'preact/hooks';

import type { ClientAccess, NewClientToken, ServerInfo } from '../src-shared/control.js';
import type { Channel } from './client.js';
import { copyText, useOpen } from './hooks.js';

const date = (iso: string) => new Date(iso).toLocaleString();
const serverList = (servers: string[]) => (servers.includes('*') ? 'all servers' : servers.join(', '));

export function ClientsView(props: { channel: Channel; servers: ServerInfo[]; say: (text: string) => void }) {
  const { channel, servers, say } = props;
  const { client } = channel;
  const open = useOpen(channel);
  const [access, setAccess] = useState<ClientAccess>();
  const [error, setError] = useState<string>();
  const [creating, setCreating] = useState(false);
  const [name, setName] = useState('');
  const [days, setDays] = useState('30');
  const [picked, setPicked] = useState<string[]>([]);
  const [formError, setFormError] = useState<string>();
  const [created, setCreated] = useState<NewClientToken>();
  const [confirm, setConfirm] = useState<string>();
  const [busy, setBusy] = useState(false);

  const load = async () => {
    const r = await client.clients.list();
    if (r.ok) {
      setAccess(r.value);
      setError(undefined);
    } else setError(r.message);
  };
  useEffect(() => {
    if (open) void load();
    // eslint's rule set has no hooks plugin; `load` reads only `client`.
  }, [open, client]);

  const create = async (e: Event) => {
    e.preventDefault();
    const n = Number(days);
    if (!Number.isInteger(n) || n < 1 || n > 365) {
      setFormError('Expiry: a whole number of days from 1 to 365.');
      return;
    }
    setBusy(true);
    const r = await client.clients.createToken({
      name: name.trim(),
      days: n,
      ...(picked.length ? { servers: picked } : {}),
    });
    setBusy(false);
    if (!r.ok) {
      setFormError(r.message);
      return;
    }
    setFormError(undefined);
    setCreating(false);
    setName('');
    setPicked([]);
    setCreated(r.value);
    say(`Created the client token "${r.value.token.name}". Copy it now: it is not shown again.`);
    void load();
  };

  const revokeToken = async (id: string, label: string) => {
    setConfirm(undefined);
    const r = await client.clients.revokeToken({ id });
    say(r.ok ? `Revoked "${label}": it stopped working.` : r.message);
    if (r.ok && created?.token.id === id) setCreated(undefined);
    void load();
  };
  const revokeGrant = async (clientId: string, label: string) => {
    setConfirm(undefined);
    const r = await client.clients.revokeGrant({ clientId });
    say(r.ok ? `Ended the access of ${label}: it must ask you again.` : r.message);
    void load();
  };
  const copy = async (text: string, what: string) => say(await copyText(text, what));

  const confirmButtons = (key: string, label: string, revoke: () => void) =>
    confirm === key ? (
      <>
        <button type="button" class="small danger" aria-label={`Revoke it: ${label}`} onClick={revoke}>
          Revoke it
        </button>
        <button type="button" class="small" onClick={() => setConfirm(undefined)}>
          Keep
        </button>
      </>
    ) : (
      <button type="button" class="small" aria-label={`Revoke ${label}`} onClick={() => setConfirm(key)}>
        Revoke
      </button>
    );

  return (
    <>
      <section aria-labelledby="tokens-title" class="card">
        <div class="bar">
          <h2 id="tokens-title">Client tokens</h2>
          <span class="spacer" />
          <button type="button" aria-expanded={creating} onClick={() => setCreating(!creating)}>
            New client token
          </button>
        </div>
        <p class="muted">
          A client token lets one MCP client (Claude Code, Cursor, Gemini CLI …) call this agent's servers
          through{' '}
          {access?.local
            ? `the local endpoint ${access.relay ?? ''} (this computer only)`
            : (access?.relay ?? 'the relay')}
          {access?.subject ? ` as "${access.subject}"` : ''}. It cannot connect as the agent.
        </p>
        {error && (
          <p class="error-text" role="alert" data-testid="clients-error">
            {error}
          </p>
        )}

        {creating && (
          <form class="server-form" aria-label="New client token" noValidate onSubmit={(e) => void create(e)}>
            <label for="token-name">Name</label>
            <input
              id="token-name"
              value={name}
              required
              maxLength={64}
              placeholder="laptop Claude Code"
              onInput={(e) => setName(e.currentTarget.value)}
            />
            <fieldset>
              <legend>Servers</legend>
              <label class="check">
                <input type="checkbox" checked={picked.length === 0} onChange={() => setPicked([])} />
                All servers
              </label>
              {servers.map((s) => (
                <label class="check" key={s.name}>
                  <input
                    type="checkbox"
                    checked={picked.includes(s.name)}
                    onChange={(e) =>
                      setPicked(
                        e.currentTarget.checked ? [...picked, s.name] : picked.filter((p) => p !== s.name),
                      )
                    }
                  />
                  {s.name}
                </label>
              ))}
            </fieldset>
            <label for="token-days">Expires after (days)</label>
            <input
              id="token-days"
              type="number"
              min={1}
              max={365}
              value={days}
              aria-invalid={formError?.startsWith('Expiry') ? 'true' : undefined}
              onInput={(e) => setDays(e.currentTarget.value)}
            />
            {formError && (
              <p class="field-error" role="alert" data-testid="token-form-error">
                {formError}
              </p>
            )}
            <div class="actions">
              <button type="submit" disabled={busy || !name.trim()}>
                Create
              </button>
              <button type="button" onClick={() => setCreating(false)}>
                Cancel
              </button>
            </div>
          </form>
        )}

        {created && (
          <div class="banner notice-banner" role="note" data-testid="new-token">
            <p>
              <strong>Copy the token for "{created.token.name}" now</strong>: this is the only time it is
              shown.
            </p>
            <pre class="output token" data-testid="new-token-header">
              Authorization: {created.header}
            </pre>
            <div class="inline">
              <button
                type="button"
                class="small"
                onClick={() => void copy(`Authorization: ${created.header}`, 'the header')}
              >
                Copy header
              </button>
            </div>
            <pre class="output token" data-testid="new-token-config">
              {created.config}
            </pre>
            <div class="inline">
              <button
                type="button"
                class="small"
                onClick={() => void copy(created.config, 'the client config')}
              >
                Copy client config
              </button>
              <button type="button" class="small" onClick={() => setCreated(undefined)}>
                Done
              </button>
            </div>
          </div>
        )}

        {access && access.tokens.length === 0 ? (
          <p class="muted" data-testid="no-tokens">
            No client tokens created here yet.
          </p>
        ) : (
          access && (
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Servers</th>
                  <th scope="col">Created</th>
                  <th scope="col">Expires</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {access.tokens.map((t) => (
                  <tr key={t.id} data-token={t.name}>
                    <td>
                      {t.name}
                      <div class="muted hint">{t.relay}</div>
                    </td>
                    <td>{serverList(t.servers)}</td>
                    <td>{date(t.createdAt)}</td>
                    <td>{t.expired ? <span class="badge error">expired</span> : date(t.expiresAt)}</td>
                    <td>
                      <div class="row-actions">
                        {confirmButtons(`token:${t.id}`, t.name, () => void revokeToken(t.id, t.name))}
                      </div>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        )}
      </section>

      <section aria-labelledby="grants-title" class="card">
        <h2 id="grants-title">Signed-in clients</h2>
        <p class="muted">
          MCP clients you allowed on the relay's consent page (OAuth). Revoking one ends its access at once.
        </p>
        {access?.grantsNote && (
          <p class="muted" data-testid="grants-note">
            {access.grantsNote}
          </p>
        )}
        {access?.grants && access.grants.length === 0 && (
          <p class="muted" data-testid="no-grants">
            No MCP client is allowed yet.
          </p>
        )}
        {access?.grants && access.grants.length > 0 && (
          <table>
            <thead>
              <tr>
                <th scope="col">Client</th>
                <th scope="col">Servers</th>
                <th scope="col">Allowed</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {access.grants.map((g) => {
                const label = g.clientName ?? g.clientId;
                return (
                  <tr key={g.clientId} data-grant={g.clientId}>
                    <td>
                      {label}
                      {g.clientName && <div class="muted hint">{g.clientId}</div>}
                    </td>
                    <td>{serverList(g.servers)}</td>
                    <td>{date(g.grantedAt)}</td>
                    <td>
                      <div class="row-actions">
                        {confirmButtons(
                          `grant:${g.clientId}`,
                          label,
                          () => void revokeGrant(g.clientId, label),
                        )}
                      </div>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}
