// io_uring rings check the process's credentials at most once per turn of
// the event loop (addon/ring.cc, CheckCredentials), and at once after
// process.setuid() and the like, which tell them so through this wrapper.
// Only the main thread has these functions.
import { binding } from './native';

const CHANGERS = ['setuid', 'seteuid', 'setgid', 'setegid', 'setgroups', 'initgroups'] as const;

/**
 * Wraps process.setuid() and the like so that each tells the addon the
 * credentials may have changed. Once per process, whatever copies of this
 * module are loaded; called when a ring is made.
 */
export function watchCredentialChanges(): void {
  const target = process as unknown as Record<string, unknown>;
  for (const name of CHANGERS) {
    const original = target[name] as ((...args: unknown[]) => unknown) | undefined;
    if (typeof original !== 'function' || (original as { odirectWrapped?: boolean }).odirectWrapped) continue;
    const wrapped = Object.defineProperty(function (this: unknown, ...args: unknown[]): unknown {
      try {
        return original.apply(this, args);
      } finally {
        binding.credentialsMayHaveChanged();
      }
    }, 'name', { value: name });
    (wrapped as { odirectWrapped?: boolean }).odirectWrapped = true;
    target[name] = wrapped;
  }
}
