import { screen } from "@testing-library/react";
import userEventLib from "@testing-library/user-event";
import type { Me, Workspace } from "../api/types";
import { WorkspaceCard } from "../components/WorkspaceCard";
import { limitState } from "../lib/limits";
import { nextPollDelay } from "../lib/polling";
import { actionsFor, isChanging, statusView } from "../lib/status";
import { renderApp } from "./render";

// Typing without per-key delays: the behaviour, not the pace.
const userEvent = userEventLib.setup({ delay: null });

function ws(extra: Partial<Workspace> = {}): Workspace {
  return {
    workspace_id: "w1",
    name: "alpha",
    status: "ready",
    desired_state: "running",
    url: "http://127.0.0.1:9/",
    created_at: "2026-11-29T10:00:00Z",
    last_active: null,
    disk_gb: 1,
    progress: [],
    ...extra,
  };
}

describe("workspace status", () => {
  it("names each status for people, idle stops and failures with their reason", () => {
    expect(statusView(ws({ status: "provisioning" })).label).toBe("Setting up");
    expect(statusView(ws({ status: "stopped", reason: "idle for over 120 min" }))).toMatchObject({
      label: "Stopped (idle)",
      description: "Stopped after being idle for over 120 min. Files are kept.",
    });
    expect(statusView(ws({ status: "failed", reason: "image pull failed" })).description).toBe("Failed: image pull failed");
    expect(isChanging("starting")).toBe(true);
    expect(isChanging("ready")).toBe(false);
  });

  it("offers the actions its status allows", () => {
    expect(actionsFor("ready")).toEqual({ open: true, stop: true, start: false, remove: true });
    expect(actionsFor("stopped")).toEqual({ open: false, stop: false, start: true, remove: true });
    expect(actionsFor("deleting")).toEqual({ open: false, stop: false, start: false, remove: false });
  });

  it("renders progress while changing and asks before deleting, naming the workspace", async () => {
    const onAction = vi.fn();
    renderApp(
      <WorkspaceCard
        ws={ws({
          status: "provisioning",
          progress: [
            { at: "2026-11-29T10:00:01Z", message: "namespace ready" },
            { at: "2026-11-29T10:00:02Z", message: "waiting for the pod" },
          ],
        })}
        onAction={onAction}
      />,
    );
    expect(screen.getByTestId("status")).toHaveTextContent("Setting up");
    expect(screen.getByTestId("progress")).toHaveTextContent("namespace ready");
    expect(screen.getByTestId("progress")).toHaveTextContent("→ waiting for the pod");
    expect(screen.queryByRole("button", { name: "Open alpha" })).toBeNull();

    await userEvent.click(screen.getByRole("button", { name: "Delete alpha" }));
    expect(await screen.findByRole("alertdialog")).toHaveTextContent("Delete “alpha”?");
    expect(onAction).not.toHaveBeenCalled();
    await userEvent.click(screen.getByRole("button", { name: "Delete alpha" , hidden: false }));
    expect(onAction).toHaveBeenCalledWith("delete", expect.objectContaining({ name: "alpha" }));
  });

  it("a stopped workspace offers Start, disabled with the reason at the running limit", () => {
    renderApp(<WorkspaceCard ws={ws({ status: "stopped", desired_state: "stopped" })} onAction={() => undefined} startBlocked="Your Free plan allows 1 running workspace." />);
    expect(screen.getByRole("button", { name: "Start alpha" })).toBeDisabled();
    expect(screen.getByText("Your Free plan allows 1 running workspace.")).toBeInTheDocument();
  });
});

describe("plan limits where they bite", () => {
  const me = { plan: "free", limits: { running_workspaces: 1, storage_gb: 1, workspace_hours_per_month: 10, llm_requests_per_month: 100 } } as Me;

  it("blocks create at the running limit, naming the plan", () => {
    const state = limitState(me, [ws()]);
    expect(state.running).toBe(1);
    expect(state.createBlocked).toBe("Your Free plan allows 1 running workspace. Stop one or upgrade to run another.");
  });

  it("blocks create on storage when nothing runs but stopped workspaces hold it", () => {
    const state = limitState(me, [ws({ status: "stopped", desired_state: "stopped" })]);
    expect(state.running).toBe(0);
    expect(state.startBlocked).toBeNull();
    expect(state.createBlocked).toMatch(/1 GB of storage and 1 GB is in use/);
  });

  it("allows create when under both limits", () => {
    expect(limitState(me, []).createBlocked).toBeNull();
  });
});

describe("polling", () => {
  it("polls every second at first, then backs off to at most 10 s", () => {
    expect([0, 4, 5, 6, 7, 8, 20].map(nextPollDelay)).toEqual([1000, 1000, 2000, 4000, 8000, 10000, 10000]);
  });
});
