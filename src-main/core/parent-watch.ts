// The gateway never outlives whoever launched it (issue 8.10). A signal to the launcher does not always reach
// us: `npm start` runs its script through `sh -c`, and a shell killed by SIGTERM (or anything killed by
// SIGKILL) forwards nothing; we are simply re-parented. Node has no prctl(PR_SET_PDEATHSIG), so we notice
// the parent's end by polling our parent pid: it changes when we are re-parented (Linux, macOS), and the old
// parent no longer exists (Windows keeps the stale ppid).

/** How often the parent is checked, in ms. */
export const PARENT_CHECK_MS = 500;

/**
 * Calls `onGone` once when the process that started this one ends. Does nothing when there is no parent to
 * follow (pid 1: started by init or a container runtime, or already daemonised with `setsid -f`). Returns
 * the function that stops watching. The timer does not keep the process alive.
 */
export function watchParent(onGone: (parentPid: number) => void, intervalMs = PARENT_CHECK_MS): () => void {
  const parent = process.ppid;
  if (parent <= 1) return () => undefined;
  const timer = setInterval(() => {
    if (process.ppid === parent && isRunning(parent)) return;
    clearInterval(timer);
    onGone(parent);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
