// The status view: the link's state, subject and relay; each server with its state, tool count and public
// endpoint URL (with a copy button); the header clients send (shown masked, copied in full on request).
// Everything follows the gateway's `status` and `servers` events: nothing polls, nothing needs a reload.
import { useCallback, useEffect, useState } from 'preact/hooks';

import type { ClientKind, Endpoints, LinkState, ServerInfo, Status } from '../src-shared/control.js';
import type { Channel } from './client.js';
import { copyText } from './hooks.js';

const CLIENTS: Record<ClientKind, string> = {
  'gemini-cli': 'Gemini CLI',
  'claude-code': 'Claude Code',
  cursor: 'Cursor',
  vscode: 'VS Code',
  'claude-desktop': 'Claude Desktop',
};

const LINK_TEXT: Record<LinkState['state'], string> = {
  stopped: 'Disconnected',
  starting: 'Starting',
  connecting: 'Connecting',
  connected: 'Connected',
  'needs-login': 'Sign-in needed',
  error: 'Error',
};

function linkDetail(link: LinkState): string | undefined {
  switch (link.state) {
    case 'connected':
      return link.local ? `Local endpoint on ${link.relay} (no relay configured)` : `Relay ${link.relay}`;
    case 'connecting':
      return `Attempt ${link.attempt}${link.lastError ? `: ${link.lastError}` : ''}`;
    case 'needs-login':
    case 'error':
      return link.reason;
    default:
      return undefined;
  }
}

export function StatusView(props: { channel: Channel; servers: ServerInfo[]; say: (text: string) => void }) {
  const { channel, servers, say } = props;
  const { client } = channel;
  const [status, setStatus] = useState<Status>();
  const [endpoints, setEndpoints] = useState<Endpoints>();
  /** The clients whose config file exists on this computer: only those get "Add to". */
  const [found, setFound] = useState<ReadonlySet<string>>(new Set());

  const refreshEndpoints = useCallback(async () => {
    const result = await client.endpoints.list();
    if (result.ok) setEndpoints(result.value);
  }, [client]);

  useEffect(() => {
    const offs = [
      client.subscribe('status', (next) => {
        setStatus(next);
        void refreshEndpoints();
      }),
      channel.onState((state) => {
        if (state !== 'open') return;
        // (Re)connected: load the current state; events carry every change from here on.
        void client.status.get().then((r) => r.ok && setStatus(r.value));
        void refreshEndpoints();
        void client.import.detect().then((r) => r.ok && setFound(new Set(r.value.map((d) => d.app))));
      }),
    ];
    return () => offs.forEach((off) => off());
  }, [channel, client, refreshEndpoints]);

  const copy = async (text: string, what: string) => say(await copyText(text, what));
  const [target, setTarget] = useState<string>();
  const [kind, setKind] = useState<ClientKind>('gemini-cli');
  const [asName, setAsName] = useState('');
  const endpoint = endpoints?.endpoints.find((e) => e.server === target) ?? endpoints?.endpoints[0];
  const copySnippet = async () => {
    const r = await client.endpoints.list({ reveal: true });
    const full = r.ok ? r.value.endpoints.find((e) => e.server === endpoint?.server) : undefined;
    if (!full) return say(r.ok ? 'That endpoint is gone.' : r.message);
    await copy(full.snippets[kind], `the ${CLIENTS[kind]} snippet`);
  };
  const addToClient = async () => {
    if (!endpoint) return;
    const r = await client.clients.add({
      app: kind,
      server: endpoint.server,
      ...(asName.trim() ? { name: asName.trim() } : {}),
    });
    say(
      r.ok
        ? `Added ${asName.trim() || endpoint.server} to ${r.value.path}${r.value.backup ? ` (backup: ${r.value.backup})` : ''}.`
        : r.message,
    );
  };
  const copyHeader = async () => {
    const result = await client.endpoints.list({ reveal: true });
    if (!result.ok || !result.value.header)
      return say(result.ok ? 'There is no header to copy yet.' : result.message);
    await copy(`${result.value.header.name}: ${result.value.header.value}`, 'the header');
  };
  const toggleLink = async () => {
    const connected = status?.link.state === 'connected' || status?.link.state === 'connecting';
    const result = connected ? await client.link.disconnect() : await client.link.connect();
    if (result.ok) setStatus(result.value);
    else say(result.message);
  };

  const dismiss = async (id: string) => {
    const result = await client.notices.dismiss({ id });
    if (result.ok) setStatus(result.value);
    else say(result.message);
  };
  const act = async (id: string) => {
    const result = await client.autostart.set({ enabled: true });
    if (!result.ok) return say(result.message);
    say(
      result.value.enabled
        ? 'The gateway now starts when you log in.'
        : 'Start at login could not be turned on.',
    );
    if (result.value.enabled) await dismiss(id);
  };

  const link = status?.link;
  const online = link?.state === 'connected' || link?.state === 'connecting';
  return (
    <>
      {status?.notices.map((notice) => (
        <div class="banner notice-banner" role="note" key={notice.id} data-testid={`notice-${notice.id}`}>
          <p>{notice.text}</p>
          {notice.action === 'autostart-on' && (
            <button type="button" onClick={() => void act(notice.id)}>
              Start at login
            </button>
          )}{' '}
          <button type="button" class="small" onClick={() => void dismiss(notice.id)}>
            {notice.action ? 'Not now' : 'Dismiss'}
          </button>
        </div>
      ))}
      <div class="bar">
        {status && <span class="muted">v{status.product.version}</span>}
        <span class="spacer" />
        {status && (
          <button type="button" onClick={() => void toggleLink()}>
            {online ? 'Disconnect' : 'Connect'}
          </button>
        )}
      </div>

      <section aria-labelledby="link-title" class="card">
        <h2 id="link-title">Connection</h2>
        <dl>
          <dt>State</dt>
          <dd>
            <span class={`badge ${link?.state ?? 'stopped'}`} data-testid="link-state" role="status">
              {link ? LINK_TEXT[link.state] : '…'}
            </span>
            {link && linkDetail(link) && <span class="muted detail">{linkDetail(link)}</span>}
          </dd>
          <dt>Subject</dt>
          <dd data-testid="subject">{status?.subject ?? '—'}</dd>
          <dt>Relay</dt>
          <dd data-testid="relay">
            {link?.state === 'connected' ? link.relay : (status?.relay ?? 'local endpoint')}
          </dd>
          <dt>Header to send</dt>
          <dd>
            {endpoints?.header ? (
              <>
                <code data-testid="header">
                  {endpoints.header.name}: {endpoints.header.value}
                </code>
                <button type="button" class="small" onClick={() => void copyHeader()}>
                  Copy header
                </button>
              </>
            ) : (
              <span class="muted">available once connected</span>
            )}
          </dd>
        </dl>
      </section>

      <section aria-labelledby="servers-title" class="card">
        <h2 id="servers-title">Servers</h2>
        {servers.length === 0 ? (
          <p class="muted">No servers in mcp.json yet.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">State</th>
                <th scope="col">Tools</th>
                <th scope="col">Endpoint URL</th>
              </tr>
            </thead>
            <tbody>
              {servers.map((server) => (
                <tr key={server.name} data-server={server.name}>
                  <td>
                    <strong>{server.name}</strong>
                    {server.description && <div class="muted">{server.description}</div>}
                  </td>
                  <td>
                    <span class={`badge ${server.state}`} data-testid="server-state" title={server.lastError}>
                      {server.disabled ? 'disabled' : server.state}
                    </span>
                  </td>
                  <td>{server.counts?.tools ?? '—'}</td>
                  <td class="endpoint">
                    {server.endpoint ? (
                      <>
                        <code data-testid="endpoint">{server.endpoint}</code>
                        <button
                          type="button"
                          class="small"
                          aria-label={`Copy the endpoint URL of ${server.name}`}
                          onClick={() => void copy(server.endpoint!, `the URL of ${server.name}`)}
                        >
                          Copy
                        </button>
                      </>
                    ) : (
                      <span class="muted">not announced</span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      {endpoint && (
        <section aria-labelledby="connect-title" class="card">
          <h2 id="connect-title">Connect a client</h2>
          <div class="inline">
            <label for="connect-server">Server</label>
            <select
              id="connect-server"
              value={endpoint.server}
              onChange={(e) => setTarget(e.currentTarget.value)}
            >
              {endpoints?.endpoints.map((e) => (
                <option key={e.server} value={e.server}>
                  {e.server}
                </option>
              ))}
            </select>
            <label for="connect-client">Client</label>
            <select
              id="connect-client"
              value={kind}
              onChange={(e) => setKind(e.currentTarget.value as ClientKind)}
            >
              {Object.entries(CLIENTS).map(([k, title]) => (
                <option key={k} value={k}>
                  {title}
                </option>
              ))}
            </select>
          </div>
          <pre class="output" data-testid="snippet">
            {endpoint.snippets[kind]}
          </pre>
          <div class="inline">
            <button type="button" class="small" onClick={() => void copySnippet()}>
              Copy snippet
            </button>
            {found.has(kind) ? (
              <>
                <label for="connect-name">Name in {CLIENTS[kind]}</label>
                <input
                  id="connect-name"
                  value={asName}
                  placeholder={endpoint.server}
                  onInput={(e) => setAsName(e.currentTarget.value)}
                />
                <button type="button" onClick={() => void addToClient()}>
                  Add to {CLIENTS[kind]}
                </button>
              </>
            ) : (
              <span class="muted" data-testid="client-not-found">
                No {CLIENTS[kind]} configuration on this computer: paste the snippet where it reads its
                servers.
              </span>
            )}
          </div>
        </section>
      )}
    </>
  );
}
