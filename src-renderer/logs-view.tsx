// The live log: the gateway's recent entries, then every new one (`logs` event), up to 10,000 lines kept
// in the page. Level and server filters, search, pause (new lines wait, nothing is lost), copy of what is
// shown, and the log folder. Rows are virtualised with @tanstack/virtual-core (framework-agnostic, ~5 KB
// gzipped): only the rows in view are in the DOM, so 10,000 lines scroll like 50. Values were redacted at
// the source (the log hub); the page never sees a secret.
import { elementScroll, observeElementOffset, observeElementRect, Virtualizer } from '@tanstack/virtual-core';
import { useEffect, useLayoutEffect, useMemo, useReducer, useRef, useState } from 'preact/hooks';

import type { LogEntry, ServerInfo } from '../src-shared/control.js';
import type { Channel } from './client.js';
import { copyText, useOpen } from './hooks.js';

/** Lines the page keeps; older ones are dropped (the log file has them all). */
export const MAX_LINES = 10_000;
const ROW_PX = 20;
const LEVELS = ['error', 'warn', 'info', 'debug'] as const;

const time = (ms: number) => new Date(ms).toLocaleTimeString(undefined, { hour12: false });

/** The scope's server, for `server:<name>` and its sub-scopes. */
const serverOf = (scope: string) => (scope.startsWith('server:') ? scope.split(':')[1] : undefined);

function useVirtualizer(count: number, scroller: { current: HTMLDivElement | null }) {
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  const [virtualizer] = useState(
    () =>
      new Virtualizer<HTMLDivElement, HTMLDivElement>({
        count,
        getScrollElement: () => scroller.current,
        estimateSize: () => ROW_PX,
        scrollToFn: elementScroll,
        observeElementRect,
        observeElementOffset,
        overscan: 12,
        onChange: () => rerender(0),
      }),
  );
  virtualizer.setOptions({ ...virtualizer.options, count });
  useLayoutEffect(() => virtualizer._didMount(), [virtualizer]);
  useLayoutEffect(() => virtualizer._willUpdate());
  return virtualizer;
}

export function LogsView(props: { channel: Channel; servers: ServerInfo[]; say: (text: string) => void }) {
  const { channel, say } = props;
  const { client } = channel;
  const open = useOpen(channel);
  // The lines live in a ref and grow in place: copying 10,000 entries on every new line would not scale.
  const lines = useRef<LogEntry[]>([]);
  const held = useRef<LogEntry[]>([]);
  const [version, bump] = useReducer((n: number) => n + 1, 0);
  const [paused, setPaused] = useState(false);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  const [level, setLevel] = useState<(typeof LEVELS)[number]>('debug');
  const [server, setServer] = useState('');
  const [search, setSearch] = useState('');
  const scroller = useRef<HTMLDivElement>(null);
  const [follow, setFollow] = useState(true);

  useEffect(() => {
    if (!open) return;
    // A burst of lines (a server's start-up output) renders once per animation frame, not once per line.
    let scheduled = false;
    const push = (entries: LogEntry[]) => {
      const all = lines.current;
      const seen = all.length ? all[all.length - 1]!.seq : 0;
      for (const e of entries) if (e.seq > seen) all.push(e);
      if (all.length > MAX_LINES * 1.1) all.splice(0, all.length - MAX_LINES);
      if (scheduled) return;
      scheduled = true;
      requestAnimationFrame(() => {
        scheduled = false;
        if (lines.current.length > MAX_LINES) lines.current.splice(0, lines.current.length - MAX_LINES);
        bump(0);
      });
    };
    const off = client.subscribe('logs', (entry) => {
      if (pausedRef.current) held.current.push(entry);
      else push([entry]);
    });
    void client.logs.recent({ limit: MAX_LINES }).then((r) => {
      if (r.ok) {
        lines.current = [];
        push(r.value);
      }
    });
    return off;
  }, [client, open]);

  const resume = () => {
    const waiting = held.current.splice(0);
    lines.current.push(...waiting);
    if (lines.current.length > MAX_LINES) lines.current.splice(0, lines.current.length - MAX_LINES);
    setPaused(false);
    bump(0);
  };

  const shown = useMemo(() => {
    const max = LEVELS.indexOf(level);
    const needle = search.trim().toLowerCase();
    return lines.current.filter(
      (e) =>
        LEVELS.indexOf(e.level) <= max &&
        (!server || serverOf(e.scope) === server) &&
        (!needle || e.message.toLowerCase().includes(needle) || e.scope.toLowerCase().includes(needle)),
    );
    // `version` stands for the contents of the ref.
  }, [version, level, server, search]);

  const virtualizer = useVirtualizer(shown.length, scroller);
  useEffect(() => {
    if (follow && shown.length) virtualizer.scrollToIndex(shown.length - 1, { align: 'end' });
  }, [follow, shown.length, virtualizer]);

  const copy = async () => {
    const text = shown.map((e) => `${time(e.time)} ${e.level} [${e.scope}] ${e.message}`).join('\n');
    say(await copyText(text, `${shown.length} lines`));
  };
  const openFolder = async () => {
    const r = await client.logs.openFolder();
    say(r.ok ? `Opened ${r.value.opened}.` : r.message);
  };
  const onScroll = () => {
    const el = scroller.current;
    if (el) setFollow(el.scrollTop + el.clientHeight >= el.scrollHeight - ROW_PX * 2);
  };

  return (
    <section aria-labelledby="logs-title" class="card logs">
      <div class="bar wrap">
        <h2 id="logs-title">Logs</h2>
        <span class="spacer" />
        <label for="logs-level">Level</label>
        <select
          id="logs-level"
          value={level}
          onChange={(e) => setLevel(e.currentTarget.value as (typeof LEVELS)[number])}
        >
          {LEVELS.map((l) => (
            <option key={l} value={l}>
              {l === 'debug' ? 'all' : `${l} and worse`}
            </option>
          ))}
        </select>
        <label for="logs-server">Server</label>
        <select id="logs-server" value={server} onChange={(e) => setServer(e.currentTarget.value)}>
          <option value="">all</option>
          {props.servers.map((s) => (
            <option key={s.name} value={s.name}>
              {s.name}
            </option>
          ))}
        </select>
        <label for="logs-search">Search</label>
        <input
          id="logs-search"
          type="search"
          value={search}
          onInput={(e) => setSearch(e.currentTarget.value)}
        />
        <button type="button" class="small" onClick={() => (paused ? resume() : setPaused(true))}>
          {paused ? `Resume (${held.current.length} new)` : 'Pause'}
        </button>
        <button type="button" class="small" onClick={() => void copy()}>
          Copy
        </button>
        <button type="button" class="small" onClick={() => void openFolder()}>
          Open log folder
        </button>
      </div>
      <p class="muted" data-testid="logs-count">
        {shown.length} of {lines.current.length} lines
      </p>
      <div
        class="log-scroll"
        ref={scroller}
        onScroll={onScroll}
        tabIndex={0}
        role="log"
        aria-label="Log lines"
        data-testid="log-scroll"
      >
        <div style={{ height: `${virtualizer.getTotalSize()}px`, position: 'relative' }}>
          {virtualizer.getVirtualItems().map((item) => {
            const e = shown[item.index]!;
            return (
              <div
                key={e.seq}
                class={`log-line ${e.level}`}
                data-testid="log-line"
                style={{ transform: `translateY(${item.start}px)` }}
              >
                <span class="muted">{time(e.time)}</span> <span class="lvl">{e.level}</span>{' '}
                <span class="scope">[{e.scope}]</span> {e.message}
              </div>
            );
          })}
        </div>
      </div>
    </section>
  );
}
