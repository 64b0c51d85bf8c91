// What each workspace status means to a person, and which ones are still changing.
import type { Workspace, WorkspaceStatus } from "../api/types";

export interface StatusView {
  label: string;
  colorScheme: string;
  description: string;
}

const VIEWS: Record<WorkspaceStatus, StatusView> = {
  pending: { label: "Queued", colorScheme: "purple", description: "Waiting to be set up." },
  provisioning: { label: "Setting up", colorScheme: "blue", description: "Creating storage and starting the IDE." },
  starting: { label: "Starting", colorScheme: "blue", description: "Starting the IDE again; your files are there." },
  ready: { label: "Ready", colorScheme: "green", description: "Running: open the IDE." },
  stopping: { label: "Stopping", colorScheme: "orange", description: "Stopping; files are kept." },
  stopped: { label: "Stopped", colorScheme: "gray", description: "Not running. Files and storage are kept." },
  deleting: { label: "Deleting", colorScheme: "red", description: "Removing the workspace and its storage." },
  deleted: { label: "Deleted", colorScheme: "gray", description: "Removed with its storage." },
  failed: { label: "Failed", colorScheme: "red", description: "Something went wrong." },
};

const CHANGING: ReadonlySet<WorkspaceStatus> = new Set([
  "pending",
  "provisioning",
  "starting",
  "stopping",
  "deleting",
]);

export function isChanging(status: WorkspaceStatus): boolean {
  return CHANGING.has(status);
}

// Stopped by the platform because nobody used it: said so, as people will wonder why.
export function idleStopped(ws: Workspace): boolean {
  return ws.status === "stopped" && /^idle/.test(ws.reason ?? "");
}

export function statusView(ws: Workspace): StatusView {
  const view = VIEWS[ws.status] ?? { label: ws.status, colorScheme: "gray", description: "" };
  if (idleStopped(ws)) {
    return { ...view, label: "Stopped (idle)", description: `Stopped after being ${ws.reason}. Files are kept.` };
  }
  if (ws.status === "stopped" && ws.reason === "plan limit") {
    return { ...view, description: "Stopped because your plan allows fewer running workspaces. Files are kept." };
  }
  if (ws.status === "failed" && ws.reason) {
    return { ...view, description: `Failed: ${ws.reason}` };
  }
  return view;
}

// Which actions a workspace offers in its current status.
export function actionsFor(status: WorkspaceStatus) {
  return {
    open: status === "ready",
    stop: status === "ready" || status === "provisioning" || status === "starting" || status === "pending",
    start: status === "stopped" || status === "failed",
    remove: status !== "deleting" && status !== "deleted",
  };
}

// Counts toward the plan's running limit (as shared/workspaces/model.counts_as_running).
export function countsAsRunning(ws: Workspace): boolean {
  return (ws.desired_state ?? "running") === "running" && ws.status !== "failed";
}

// Keeps storage until deleted (as shared/workspaces/model.holds_storage).
export function holdsStorage(ws: Workspace): boolean {
  return ws.desired_state !== "deleted" && ws.status !== "deleted";
}
