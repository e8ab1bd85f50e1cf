// The window: one bar with the views (Status, Servers, Tools, Clients, Logs, Activity, Import, Settings),
// the channel's state, and a polite live region for what an action did. Every view talks to the gateway
// only through the channel.
import { useEffect, useState } from 'preact/hooks';

import { ActivityView } from './activity-view.js';
import type { Channel, ChannelState } from './client.js';
import { ClientsView } from './clients-view.js';
import { useNotice, useServers } from './hooks.js';
import { ImportView } from './import-view.js';
import { LogsView } from './logs-view.js';
import { ServersView } from './servers-view.js';
import { SettingsView } from './settings-view.js';
import { StatusView } from './status-view.js';
import { ToolsView } from './tools-view.js';

const VIEWS = ['Status', 'Servers', 'Tools', 'Clients', 'Logs', 'Activity', 'Import', 'Settings'] as const;
type View = (typeof VIEWS)[number];

export function App({ channel }: { channel: Channel }) {
  const [view, setView] = useState<View>('Status');
  const [channelState, setChannelState] = useState<[ChannelState, string | undefined]>([
    'connecting',
    undefined,
  ]);
  const servers = useServers(channel);
  const [notice, say] = useNotice();
  useEffect(() => channel.onState((state, reason) => setChannelState([state, reason])), [channel]);

  return (
    <>
      <header class="top">
        <h1>MCP Assistant Gateway</h1>
        <nav aria-label="Views">
          {VIEWS.map((v) => (
            <button
              key={v}
              type="button"
              class="tab"
              aria-current={view === v ? 'page' : undefined}
              onClick={() => setView(v)}
            >
              {v}
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
