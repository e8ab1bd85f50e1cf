// MCP clients waiting for the owner's consent on the relay (issue 12): the relay's consent page asked the app
// too, and the first answer counts (here or on that page). Each request names the client as it calls itself,
// its client_id, where its answer goes (which it cannot hide), the servers it asks for and the agent; Allow
// lets it in as if the owner had clicked Allow on the relay's page, Deny sends it back with access_denied.
// Nothing secret reaches this view: no token, no code, no URL of the browser's authorization request.
import { useEffect, useState } from 'preact/hooks';

import type { PendingConsent } from '../src-shared/control.js';
import type { Channel } from './client.js';
import { formatDuration } from './hooks.js';

/** The consent requests as the gateway reports them: listed when the channel opens, then kept by events. */
export function useConsents(channel: Channel, open: boolean): PendingConsent[] {
  const [consents, setConsents] = useState<PendingConsent[]>([]);
  useEffect(() => {
    if (!open) return;
    const { client } = channel;
    const off = client.subscribe('consent', setConsents);
    void client.consent.list().then((r) => r.ok && setConsents(r.value));
    return off;
  }, [channel, open]);
  return consents;
}

export function ConsentView(props: {
  channel: Channel;
  consents: PendingConsent[];
  say: (text: string) => void;
}) {
  const { channel, consents, say } = props;
  const [busy, setBusy] = useState<string>();
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);

  const answer = async (request: PendingConsent, allow: boolean) => {
    setBusy(request.id);
    const r = await channel.client.consent.answer({ id: request.id, allow });
    setBusy(undefined);
    const name = request.clientName ?? request.clientId;
    say(
      r.ok
        ? allow
          ? `Allowed ${name}: the browser page finishes the sign-in.`
          : `Denied ${name}: it was sent back without access.`
        : r.message,
    );
  };

  return (
    <section aria-labelledby="consent-title" class="card">
      <h2 id="consent-title">Access requests</h2>
      {consents.length === 0 ? (
        <p class="muted" data-testid="no-consent">
          No MCP client waits for your answer. When one asks for your servers on the relay, its request shows
          here and in a notification.
        </p>
      ) : (
        consents.map((request) => {
          const name = request.clientName ?? request.clientId;
          return (
            <article
              class="consent"
              key={request.id}
              aria-label={`${name} asks for access`}
              data-testid="consent"
            >
              <h3>{name} asks for access</h3>
              <dl class="facts">
                {request.clientName && (
                  <>
                    <dt>Client id</dt>
                    <dd>{request.clientId}</dd>
                  </>
                )}
                {request.clientUri && (
                  <>
                    <dt>Client site</dt>
                    <dd>{request.clientUri}</dd>
                  </>
                )}
                <dt>Answer goes to</dt>
                <dd data-testid="consent-redirect">{request.redirectHost}</dd>
                <dt>Servers</dt>
                <dd data-testid="consent-servers">{request.servers.join(', ')}</dd>
                <dt>Agent</dt>
                <dd>{request.subject}</dd>
                <dt>Time left</dt>
                <dd>{formatDuration(request.expiresAt - now)}</dd>
              </dl>
              <p class="muted">
                It could call every tool, resource and prompt of{' '}
                {request.servers.length === 1 ? 'this server' : 'these servers'} until you revoke it (Clients
                view). The name is the client's own claim; check where the answer goes. You can also answer on
                the relay's page in your browser.
              </p>
              <div class="actions">
                <button
                  type="button"
                  disabled={busy === request.id}
                  onClick={() => void answer(request, true)}
                >
                  Allow
                </button>
                <button
                  type="button"
                  class="small"
                  disabled={busy === request.id}
                  onClick={() => void answer(request, false)}
                >
                  Deny
                </button>
              </div>
            </article>
          );
        })
      )}
    </section>
  );
}
