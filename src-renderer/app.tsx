// The window: one bar with the views (Status, Servers, Tools, Clients, Logs, Activity, Import, Settings, and
// Requests while an MCP client waits for the owner's consent), the channel's state, and a polite live region
// for what an action did. Every view talks to the gateway only through the channel.
import { useEffect, useRef, useState } from 'preact/hooks';

import { ActivityView } from './activity-view.js';
import type { Channel, ChannelState } from './client.js';
import { ClientsView } from './clients-view.js';
import { ConsentView, useConsents } from './consent-view.js';
import { useNotice, useOpen, useServers } from './hooks.js';
import { ImportView } from './import-view.js';
import { LogsView } from './logs-view.js';
import { ServersView } from './servers-view.js';
import { SettingsView } from './settings-view.js';
import { StatusView } from './status-view.js';
import { ToolsView } from './tools-view.js';

const VIEWS = ['Status', 'Servers', 'Tools', 'Clients', 'Logs', 'Activity', 'Import', 'Settings'] as const;
type View = (typeof VIEWS)[number] | 'Requests';

export function App({ channel }: { channel: Channel }) {
  const [view, setView] = useState<View>('Status');
  const [channelState, setChannelState] = useState<[ChannelState, string | undefined]>([
    'connecting',
    undefined,
  ]);
  const servers = useServers(channel);
  const [notice, say] = useNotice();
  useEffect(() => channel.onState((state, reason) => setChannelState([state, reason])), [channel]);
  const consents = useConsents(channel, useOpen(channel));
  // A new consent request brings its view forward: the notification's click opens this window for it, and
  // the client waits on the relay's page meanwhile.
  const seen = useRef(new Set<string>());
  useEffect(() => {
    const fresh = consents.some((c) => !seen.current.has(c.id));
    for (const c of consents) seen.current.add(c.id);
    if (fresh) setView('Requests');
  }, [consents]);
  const tabs: View[] = consents.length || view === 'Requests' ? ['Requests', ...VIEWS] : [...VIEWS];

  return (
    <>
      <header class="top">
        <h1>MCP Assistant Gateway</h1>
        <nav aria-label="Views">
          {tabs.map((v) => (
            <button
              key={v}
              type="button"
              class="tab"
              aria-current={view === v ? 'page' : undefined}
              onClick={() => setView(v)}
            >
              {v === 'Requests' && consents.length ? `Requests (${consents.length})` : v}
            </button>
          ))}
        </nav>
      </header>
      <main>
        {channelState[0] !== 'open' && (
          <p class="banner" role="alert">
            {channelState[1] ?? 'Connecting to the gateway…'}
          </p>
        )}
        {view === 'Requests' && <ConsentView channel={channel} consents={consents} say={say} />}
        {view === 'Status' && <StatusView channel={channel} servers={servers} say={say} />}
        {view === 'Servers' && <ServersView channel={channel} servers={servers} say={say} />}
        {view === 'Tools' && <ToolsView channel={channel} servers={servers} />}
        {view === 'Clients' && <ClientsView channel={channel} servers={servers} say={say} />}
        {view === 'Logs' && <LogsView channel={channel} servers={servers} say={say} />}
        {view === 'Import' && <ImportView channel={channel} say={say} />}
        {view === 'Activity' && <ActivityView channel={channel} />}
        {view === 'Settings' && <SettingsView channel={channel} say={say} />}
        <p class="notice" role="status" aria-live="polite">
          {notice}
        </p>
      </main>
    </>
  );
}
