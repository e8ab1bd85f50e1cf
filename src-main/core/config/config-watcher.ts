// Watches mcp.json so an edit applies without a restart. chokidar copes with editors and our own writer
// replacing the file by rename (atomic saves), which plain fs.watch loses track of.
import { watch } from 'chokidar';

export interface ConfigWatcher {
  close(): Promise<void>;
}

/**
 * Calls `onChange` once per burst of changes to `path` (debounced), including its creation and removal.
 * Resolves once the watch is in place, so no edit made after that is missed.
 */
export async function watchFile(
  path: string,
  onChange: () => void,
  debounceMs = 150,
): Promise<ConfigWatcher> {
  let timer: NodeJS.Timeout | undefined;
  const watcher = watch(path, { ignoreInitial: true, atomic: true });
  const changed = () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  };
  watcher.on('add', changed).on('change', changed).on('unlink', changed);
  await new Promise<void>((resolve) => watcher.once('ready', resolve));
  return {
    async close() {
      clearTimeout(timer);
      await watcher.close();
    },
  };
}
