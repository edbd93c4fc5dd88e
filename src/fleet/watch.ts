// Calls `changed` (debounced) when the config file may have changed. Watches the file (an edit in place) and its
// directory: Kubernetes ConfigMaps and Swarm configs replace the file by renaming a symbolic link (..data), which
// a watch on the old file's inode never sees. The caller compares the content: events may be spurious.
import { type FSWatcher, watch } from 'node:fs';
import path from 'node:path';

export interface ConfigWatch {
  close(): void;
}

export function watchConfigFile(file: string, changed: () => void, debounceMs: number, onError: (error: Error) => void): ConfigWatch {
  let timer: NodeJS.Timeout | undefined;
  let fileWatcher: FSWatcher | undefined;
  let closed = false;
  const fire = () => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      // The file may be a new inode now: watch that one.
      armFile();
      changed();
    }, debounceMs);
  };
  const armFile = () => {
    fileWatcher?.close();
    fileWatcher = undefined;
    if (closed) return;
    try {
      fileWatcher = watch(file, { persistent: false }, fire);
      fileWatcher.on('error', () => armFile());
    } catch {
      // Absent for a moment (replaced by rename): the directory's watch sees it come back.
    }
  };
  const dirWatcher = watch(path.dirname(file), { persistent: false }, fire);
  dirWatcher.on('error', onError);
  armFile();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      fileWatcher?.close();
      dirWatcher.close();
    },
  };
}
