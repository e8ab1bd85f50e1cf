// Small hooks every view shares: the live server list, the channel's state, and a transient notice.
import { useEffect, useState } from 'preact/hooks';

import type { ServerInfo } from '../src-shared/control.js';
import type { Channel, ChannelState } from './client.js';

/** The servers as the gateway reports them: loaded when the channel opens, then kept by `servers` events. */
export function useServers(channel: Channel): ServerInfo[] {
  const [servers, setServers] = useState<ServerInfo[]>([]);
  useEffect(() => {
    const { client } = channel;
    const offs = [
      client.subscribe('servers', setServers),
      channel.onState((state) => {
        if (state === 'open') void client.servers.list().then((r) => r.ok && setServers(r.value));
      }),
    ];
    return () => offs.forEach((off) => off());
  }, [channel]);
  return servers;
}

/** Whether the channel is open: views load their data again on every (re)open. */
export function useOpen(channel: Channel): boolean {
  const [state, setState] = useState<ChannelState>('connecting');
  useEffect(() => channel.onState(setState), [channel]);
  return state === 'open';
}

/** A line for the page's polite live region; it clears itself after a few seconds. */
export function useNotice(): [string | undefined, (text: string) => void] {
  const [notice, setNotice] = useState<string>();
  const say = (text: string) => {
    setNotice(text);
    setTimeout(() => setNotice((current) => (current === text ? undefined : current)), 5000);
  };
  return [notice, say];
}

/** Copies `text`; answers the line to show. */
export async function copyText(text: string, what: string): Promise<string> {
  try {
    await navigator.clipboard.writeText(text);
    return `Copied ${what}.`;
  } catch {
    return `Could not copy ${what}: the browser refused access to the clipboard.`;
  }
}

/** "3 min", "2 h 5 min" … from a duration in ms. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  return h < 24 ? `${h} h ${m % 60} min` : `${Math.floor(h / 24)} d ${h % 24} h`;
}
