// The one place that decides criu's environment beyond the controller's own: every criu run (check, dump,
// restore) gets these additions.
import type { Breakpoints } from './breakpoints.ts';

// criu's fault injection FI_NO_BREAKPOINTS: compel then stops a task on its rt_sigreturn syscall
// (INFECT_NO_BREAKPOINTS) instead of a hardware breakpoint (breakpoints.ts).
const NO_BREAKPOINTS = { CRIU_FAULT: '130' };
// The command criu runs through `sh -c` instead of iptables-save/iptables-restore for an instance's own network
// namespace: `true` saves an empty rule set (no instance holds CAP_NET_ADMIN, so there are no rules), and a
// fresh Debian has no iptables (issue 23 §4; see dump's --network-lock skip in criu.ts).
const NO_IPTABLES = { CR_IPTABLES: 'true' };

/** Variables criu runs with, on top of the controller's environment. */
export function criuEnvironment(breakpoints: Breakpoints, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return {
    ...NO_IPTABLES,
    ...(!breakpoints.use && NO_BREAKPOINTS),
    // The patched criu fills with huge pages wherever the host allows, also where an administrator turned
    // sizes on: PREBAKE_THP_FILL=0 turns the fill itself off (CRIU_THP_FILL=0, read by the patch).
    ...(env.PREBAKE_THP_FILL === '0' && { CRIU_THP_FILL: '0' }),
  };
}
