// Server state through TanStack Query: one key per resource.
import { useQuery } from "@tanstack/react-query";
import { api } from "./client";
import type { BillingSummary, Me, PlansResponse, Workspace } from "./types";
import { nextPollDelay } from "../lib/polling";
import { isChanging } from "../lib/status";

export const keys = {
  plans: ["plans"] as const,
  me: ["me"] as const,
  workspaces: ["workspaces"] as const,
  billing: ["billing"] as const,
};

export function usePlans() {
  return useQuery({
    queryKey: keys.plans,
    queryFn: () => api.get<PlansResponse>("/api/plans"),
    staleTime: 5 * 60_000,
  });
}

export function useMe(options: { pollWhile?: (me: Me) => boolean } = {}) {
  const { pollWhile } = options;
  return useQuery({
    queryKey: keys.me,
    queryFn: () => api.get<Me>("/api/auth/me"),
    refetchInterval: (query) => {
      const me = query.state.data;
      if (!me || !pollWhile?.(me)) return false;
      return nextPollDelay(query.state.dataUpdateCount);
    },
  });
}

// While anything is changing, poll: quickly at first, then backing off; when all is settled,
// a slow refresh catches changes made elsewhere (idle stop, another tab).
export function useWorkspaces() {
  return useQuery({
    queryKey: keys.workspaces,
    queryFn: async () => (await api.get<{ workspaces: Workspace[] }>("/api/workspaces")).workspaces,
    refetchInterval: (query) => {
      const list = query.state.data ?? [];
      const changing = list.some((ws) => isChanging(ws.status));
      return changing ? nextPollDelay(changingFor(list)) : 30_000;
    },
  });
}

// How many polls the current change has had (kept per list of changing workspaces).
let changeKey = "";
let changePolls = 0;
function changingFor(list: Workspace[]): number {
  const key = list
    .filter((ws) => isChanging(ws.status))
    .map((ws) => `${ws.workspace_id}:${ws.status}`)
    .join(",");
  if (key !== changeKey) {
    changeKey = key;
    changePolls = 0;
  }
  return changePolls++;
}

export function useBilling() {
  return useQuery({
    queryKey: keys.billing,
    queryFn: () => api.get<BillingSummary>("/api/billing/invoices"),
  });
}
