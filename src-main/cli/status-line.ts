// One line per server, for `run` and `tools`.
import type { ServerStatus } from '../core/servers/managed-server.js';

const MARK: Record<ServerStatus['state'], string> = {
  running: '✓',
  starting: '…',
  restarting: '↻',
  stopped: '–',
  error: '✗',
};

export function statusLine(status: ServerStatus, nameWidth = 12): string {
  const head = `${MARK[status.state]} ${status.name.padEnd(nameWidth)} ${status.state.padEnd(10)}`;
  const details: string[] = [];
  if (status.state === 'running') {
    if (status.serverInfo) details.push(`${status.serverInfo.name} ${status.serverInfo.version}`);
    if (status.pid !== undefined) details.push(`pid ${status.pid}`);
    else if (status.target) details.push(status.target);
    if (status.counts) {
      const { tools, resources, prompts } = status.counts;
      details.push(`${tools} tools, ${resources} resources, ${prompts} prompts`);
    }
  } else if (status.state === 'stopped' && status.disabled) {
    details.push('disabled in mcp.json');
  } else if (status.lastError && (status.state === 'error' || status.state === 'restarting')) {
    details.push(status.lastError);
    if (status.nextRetryAt)
      details.push(`retrying in ${Math.max(0, (status.nextRetryAt - Date.now()) / 1000).toFixed(1)} s`);
  }
  return details.length ? `${head} ${details.join(' · ')}` : head.trimEnd();
}
