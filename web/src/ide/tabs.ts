// The IDE session tabs' lifecycle, as a pure reducer (tested on its own).
//
// A tab is opened for a workspace, launched (a one-time launch URL the frame navigates to once),
// and stays "live" while the workspace is ready: its frame is kept while other tabs are shown.
// When the workspace stops (idle, by the user, by a plan change) the tab says so; when it is
// ready again the tab is launched anew (a fresh frame: the old session ended with the pod).
import type { WorkspaceStatus } from "../api/types";

export type TabPhase = "launching" | "live" | "stopped" | "waiting" | "failed" | "gone";

export interface Tab {
  workspaceId: string;
  name: string;
  phase: TabPhase;
  // Bumped on each launch: the frame's React key, so a relaunch gets a fresh frame.
  launch: number;
  reason?: string;
}

export interface TabsState {
  tabs: Tab[];
  active: string | null;
}

export type TabsAction =
  | { type: "open"; workspaceId: string; name: string; status: WorkspaceStatus }
  | { type: "activate"; workspaceId: string }
  | { type: "close"; workspaceId: string }
  | { type: "retry"; workspaceId: string }
  | { type: "launched"; workspaceId: string; launch: number }
  | { type: "launchFailed"; workspaceId: string; launch: number; reason: string }
  | { type: "status"; workspaceId: string; status: WorkspaceStatus | "missing"; name?: string; reason?: string };

export const initialTabs: TabsState = { tabs: [], active: null };

function phaseFor(status: WorkspaceStatus | "missing"): TabPhase {
  switch (status) {
    case "ready":
      return "launching";
    case "pending":
    case "provisioning":
    case "starting":
      return "waiting";
    case "failed":
      return "failed";
    case "deleting":
    case "deleted":
    case "missing":
      return "gone";
    default:
      return "stopped"; // stopping, stopped
  }
}

// The same state object when nothing changed, so a status that repeats renders nothing.
function update(state: TabsState, id: string, change: (tab: Tab) => Tab): TabsState {
  let changed = false;
  const tabs = state.tabs.map((tab) => {
    if (tab.workspaceId !== id) return tab;
    const next = change(tab);
    changed ||= next !== tab;
    return next;
  });
  return changed ? { ...state, tabs } : state;
}

export function tabsReducer(state: TabsState, action: TabsAction): TabsState {
  switch (action.type) {
    case "open": {
      if (state.tabs.some((tab) => tab.workspaceId === action.workspaceId)) {
        return { ...state, active: action.workspaceId };
      }
      const tab: Tab = { workspaceId: action.workspaceId, name: action.name, phase: phaseFor(action.status), launch: 1 };
      return { tabs: [...state.tabs, tab], active: action.workspaceId };
    }
    case "activate":
      return state.tabs.some((tab) => tab.workspaceId === action.workspaceId) ? { ...state, active: action.workspaceId } : state;
    case "close": {
      const index = state.tabs.findIndex((tab) => tab.workspaceId === action.workspaceId);
      if (index < 0) return state;
      const tabs = state.tabs.filter((tab) => tab.workspaceId !== action.workspaceId);
      let active = state.active;
      if (active === action.workspaceId) active = tabs[Math.min(index, tabs.length - 1)]?.workspaceId ?? null;
      return { tabs, active };
    }
    case "retry":
      return update(state, action.workspaceId, (tab) => ({ ...tab, phase: "launching", launch: tab.launch + 1, reason: undefined }));
    case "launched":
      return update(state, action.workspaceId, (tab) =>
        tab.phase === "launching" && tab.launch === action.launch ? { ...tab, phase: "live", reason: undefined } : tab,
      );
    case "launchFailed":
      return update(state, action.workspaceId, (tab) =>
        tab.launch === action.launch ? { ...tab, phase: "failed", reason: action.reason } : tab,
      );
    case "status":
      return update(state, action.workspaceId, (tab) => {
        const name = action.name ?? tab.name;
        const next = phaseFor(action.status);
        if (next === "launching") {
          // Ready: a live or launching tab stays as it is; any other comes back with a new frame.
          // A launch that failed is not retried on every poll: the tab offers "Try again".
          if (tab.phase === "live" || tab.phase === "launching" || tab.phase === "failed") {
            return tab.name === name ? tab : { ...tab, name };
          }
          return { ...tab, name, phase: "launching", launch: tab.launch + 1, reason: undefined };
        }
        if (tab.phase === next && tab.reason === action.reason) return tab.name === name ? tab : { ...tab, name };
        return { ...tab, name, phase: next, reason: action.reason };
      });
  }
}
