// Watches mcp.json so an edit applies without a restart. We watch its folder, not the file: editors and our
// own writer replace the file by rename (atomic saves), and a watch on the file itself follows the old inode.
// Node's own fs.watch on the folder (inotify, FSEvents, ReadDirectoryChangesW) reports every rename onto the
// file; chokidar 5 was tried first and, measured here, reports none of our writer's renames after the first.
import { watch } from 'node:fs';
import { basename, dirname } from 'node:path';

export interface ConfigWatcher {
  close(): Promise<void>;
}

/** Calls `onChange` once per burst of changes to `path` (debounced), including its creation and removal. */
export function watchFile(path: string, onChange: () => void, debounceMs = 150): ConfigWatcher {
  const name = basename(path);
  let timer: NodeJS.Timeout | undefined;
  const watcher = watch(dirname(path), { persistent: true }, (_event, filename) => {
    // Some platforms omit the name; then any change in the folder may be ours.
    if (filename && filename.toString() !== name) return;
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  });
  // A folder that disappears (or loses its permissions) ends the watch; it must not crash the gateway. The
  // next reload reports the missing file.
  watcher.on('error', () => onChange());
  return {
    close() {
      clearTimeout(timer);
      watcher.close();
      return Promise.resolve();
    },
  };
}
