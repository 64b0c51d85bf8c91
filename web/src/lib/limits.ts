// Where the plan's limits bite, from the caller's plan and workspaces (the server checks too).
import type { Me, Workspace } from "../api/types";
import { planTitle } from "./format";
import { countsAsRunning, holdsStorage } from "./status";

export interface LimitState {
  running: number;
  storageUsed: number;
  createBlocked: string | null;
  startBlocked: string | null;
}

export function limitState(me: Me, workspaces: Workspace[]): LimitState {
  const running = workspaces.filter(countsAsRunning).length;
  const storageUsed = workspaces.filter(holdsStorage).reduce((sum, ws) => sum + (ws.disk_gb ?? 0), 0);
  const plan = planTitle(me.plan);
  const max = me.limits.running_workspaces;
  let runningBlocked: string | null = null;
  if (running >= max) {
    runningBlocked = `Your ${plan} plan allows ${max} running workspace${max === 1 ? "" : "s"}. Stop one or upgrade to run another.`;
  }
  // A new workspace takes the plan's per-workspace disk; the server says exactly how much.
  const perWorkspace = Math.max(1, Math.floor(me.limits.storage_gb / Math.max(1, max)));
  let storageBlocked: string | null = null;
  if (storageUsed + perWorkspace > me.limits.storage_gb) {
    storageBlocked = `Your ${plan} plan includes ${me.limits.storage_gb} GB of storage and ${storageUsed} GB is in use. Delete a workspace or upgrade.`;
  }
  return { running, storageUsed, createBlocked: runningBlocked ?? storageBlocked, startBlocked: runningBlocked };
}
