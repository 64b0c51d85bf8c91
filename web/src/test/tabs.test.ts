import { initialTabs, tabsReducer, type TabsAction, type TabsState } from "../ide/tabs";

function run(...actions: TabsAction[]): TabsState {
  return actions.reduce(tabsReducer, initialTabs);
}

const openA: TabsAction = { type: "open", workspaceId: "a", name: "alpha", status: "ready" };
const openB: TabsAction = { type: "open", workspaceId: "b", name: "beta", status: "ready" };

describe("IDE tab lifecycle", () => {
  it("opens a ready workspace as a launching tab and makes it active", () => {
    const state = run(openA);
    expect(state.active).toBe("a");
    expect(state.tabs).toEqual([{ workspaceId: "a", name: "alpha", phase: "launching", launch: 1 }]);
  });

  it("opening an open workspace again only switches to it", () => {
    const state = run(openA, openB, openA);
    expect(state.tabs.map((t) => t.workspaceId)).toEqual(["a", "b"]);
    expect(state.active).toBe("a");
  });

  it("goes live when its launch lands, and ignores a stale launch", () => {
    let state = run(openA, { type: "launched", workspaceId: "a", launch: 7 });
    expect(state.tabs[0].phase).toBe("launching");
    state = tabsReducer(state, { type: "launched", workspaceId: "a", launch: 1 });
    expect(state.tabs[0].phase).toBe("live");
  });

  it("says stopped when the workspace stops, and relaunches with a new frame when ready again", () => {
    let state = run(openA, { type: "launched", workspaceId: "a", launch: 1 });
    state = tabsReducer(state, { type: "status", workspaceId: "a", status: "stopped", reason: "idle for over 120 min" });
    expect(state.tabs[0]).toMatchObject({ phase: "stopped", reason: "idle for over 120 min", launch: 1 });
    state = tabsReducer(state, { type: "status", workspaceId: "a", status: "starting" });
    expect(state.tabs[0].phase).toBe("waiting");
    state = tabsReducer(state, { type: "status", workspaceId: "a", status: "ready" });
    expect(state.tabs[0]).toMatchObject({ phase: "launching", launch: 2 });
  });

  it("a status that repeats returns the same state (no re-render loop)", () => {
    const state = run(openA, { type: "launched", workspaceId: "a", launch: 1 });
    expect(tabsReducer(state, { type: "status", workspaceId: "a", status: "ready" })).toBe(state);
    const stopped = tabsReducer(state, { type: "status", workspaceId: "a", status: "stopped" });
    expect(tabsReducer(stopped, { type: "status", workspaceId: "a", status: "stopped" })).toBe(stopped);
  });

  it("a failed launch waits for Try again instead of retrying on every poll", () => {
    let state = run(openA, { type: "launchFailed", workspaceId: "a", launch: 1, reason: "workspace is not ready" });
    state = tabsReducer(state, { type: "status", workspaceId: "a", status: "ready" });
    expect(state.tabs[0].phase).toBe("failed");
    state = tabsReducer(state, { type: "retry", workspaceId: "a" });
    expect(state.tabs[0]).toMatchObject({ phase: "launching", launch: 2 });
  });

  it("a deleted workspace's tab is gone; closing the active tab activates its neighbour", () => {
    let state = run(openA, openB, { type: "activate", workspaceId: "a" });
    state = tabsReducer(state, { type: "status", workspaceId: "b", status: "missing" });
    expect(state.tabs[1].phase).toBe("gone");
    state = tabsReducer(state, { type: "close", workspaceId: "a" });
    expect(state).toMatchObject({ active: "b", tabs: [{ workspaceId: "b" }] });
    expect(tabsReducer(state, { type: "close", workspaceId: "b" })).toEqual({ tabs: [], active: null });
  });
});
