// The IDE session tabs: one frame per open workspace, all kept mounted (hidden when another tab
// is shown) so switching never reloads an IDE. Mounted by the signed-in layout, so leaving for
// the dashboard and coming back keeps them too.
import { Alert, AlertDescription, AlertIcon, Box, Button, Flex, HStack, Spinner, Text } from "@chakra-ui/react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { createContext, useCallback, useContext, useEffect, useMemo, useReducer, useRef, type ReactNode } from "react";
import { useLocation, useNavigate } from "react-router-dom";
import { api, ApiError } from "../api/client";
import { keys, useWorkspaces } from "../api/hooks";
import type { Workspace } from "../api/types";
import { initialTabs, tabsReducer, type Tab, type TabsState } from "./tabs";

interface IdeTabsApi {
  state: TabsState;
  open: (ws: Workspace) => void;
  activate: (id: string) => void;
  close: (id: string) => void;
}

const IdeTabsContext = createContext<IdeTabsApi | null>(null);

export function useIdeTabs(): IdeTabsApi {
  const value = useContext(IdeTabsContext);
  if (!value) throw new Error("useIdeTabs outside IdeTabsProvider");
  return value;
}

export function IdeTabsProvider({ children }: { children: ReactNode }) {
  const [state, dispatch] = useReducer(tabsReducer, initialTabs);
  const navigate = useNavigate();
  const workspaces = useWorkspaces();

  // The workspace list (polled) drives each tab: stopped, starting, ready again, deleted.
  useEffect(() => {
    if (!workspaces.data) return;
    for (const tab of state.tabs) {
      const ws = workspaces.data.find((w) => w.workspace_id === tab.workspaceId);
      dispatch({ type: "status", workspaceId: tab.workspaceId, status: ws?.status ?? "missing", name: ws?.name, reason: ws?.reason });
    }
  }, [workspaces.data, state.tabs]);

  const open = useCallback(
    (ws: Workspace) => {
      dispatch({ type: "open", workspaceId: ws.workspace_id, name: ws.name, status: ws.status });
      navigate("/ide");
    },
    [navigate],
  );
  const activate = useCallback((id: string) => dispatch({ type: "activate", workspaceId: id }), []);
  const close = useCallback((id: string) => dispatch({ type: "close", workspaceId: id }), []);
  const value = useMemo(() => ({ state, open, activate, close, dispatch }), [state, open, activate, close]);
  return (
    <IdeTabsContext.Provider value={value}>
      <DispatchContext.Provider value={dispatch}>{children}</DispatchContext.Provider>
    </IdeTabsContext.Provider>
  );
}

const DispatchContext = createContext<React.Dispatch<Parameters<typeof tabsReducer>[1]>>(() => undefined);

// A frame that navigates once to the one-time launch URL. The URL is never put in the frame's
// src attribute, in state or in history: the frame is told to go there (location.replace), the
// sidecar swaps the token for its cookie and redirects to the IDE.
function IdeFrame({ tab, visible }: { tab: Tab; visible: boolean }) {
  const dispatch = useContext(DispatchContext);
  const frame = useRef<HTMLIFrameElement>(null);
  const started = useRef(0);

  useEffect(() => {
    if (tab.phase !== "launching" || started.current === tab.launch) return;
    started.current = tab.launch;
    const launch = tab.launch;
    api
      .post<{ url: string }>(`/api/workspaces/${tab.workspaceId}/launch`, {})
      .then(({ url }) => {
        frame.current?.contentWindow?.location.replace(url);
        dispatch({ type: "launched", workspaceId: tab.workspaceId, launch });
      })
      .catch((error: unknown) =>
        dispatch({
          type: "launchFailed",
          workspaceId: tab.workspaceId,
          launch,
          reason: error instanceof ApiError ? error.message : "the IDE could not be opened",
        }),
      );
  }, [tab.phase, tab.launch, tab.workspaceId, dispatch]);

  return (
    <Box
      as="iframe"
      ref={frame}
      title={`IDE: ${tab.name}`}
      src="about:blank"
      data-workspace={tab.workspaceId}
      w="100%"
      h="100%"
      border="0"
      display={visible ? "block" : "none"}
      // The IDE needs its clipboard; nothing else is granted.
      allow="clipboard-read; clipboard-write"
    />
  );
}

function TabMessage({ tab }: { tab: Tab }) {
  const dispatch = useContext(DispatchContext);
  const queryClient = useQueryClient();
  const start = useMutation({
    mutationFn: () => api.post(`/api/workspaces/${tab.workspaceId}/start`, {}),
    onSettled: () => queryClient.invalidateQueries({ queryKey: keys.workspaces }),
  });
  if (tab.phase === "stopped") {
    return (
      <Alert status="warning" role="status" flexDirection={{ base: "column", sm: "row" }} gap={3} data-testid="tab-stopped">
        <AlertIcon />
        <AlertDescription flex="1">
          <strong>{tab.name}</strong> has stopped{tab.reason ? ` (${tab.reason})` : ""}. Its files are kept.
        </AlertDescription>
        <Button colorScheme="blue" onClick={() => start.mutate()} isLoading={start.isPending} loadingText="Starting">
          Start {tab.name}
        </Button>
        {start.isError && <Text role="alert">{(start.error as Error).message}</Text>}
      </Alert>
    );
  }
  if (tab.phase === "waiting") {
    return (
      <HStack p={6} role="status">
        <Spinner size="sm" />
        <Text>{tab.name} is starting; the IDE opens here when it is ready.</Text>
      </HStack>
    );
  }
  if (tab.phase === "failed") {
    return (
      <Alert status="error" gap={3} flexDirection={{ base: "column", sm: "row" }}>
        <AlertIcon />
        <AlertDescription flex="1">The IDE for {tab.name} could not be opened: {tab.reason ?? "unknown error"}.</AlertDescription>
        <Button onClick={() => dispatch({ type: "retry", workspaceId: tab.workspaceId })}>Try again</Button>
      </Alert>
    );
  }
  if (tab.phase === "gone") {
    return (
      <Alert status="info">
        <AlertIcon />
        <AlertDescription>{tab.name} was deleted. Close this tab.</AlertDescription>
      </Alert>
    );
  }
  return null;
}

async function openInOwnWindow(tab: Tab) {
  // A new window needs its own launch: a launch URL works once. Opened first (no popup
  // blocker), then sent to the URL; noopener keeps it from reaching back to the app.
  const win = window.open("about:blank", "_blank");
  try {
    const { url } = await api.post<{ url: string }>(`/api/workspaces/${tab.workspaceId}/launch`, {});
    if (win) {
      win.opener = null;
      win.location.replace(url);
    }
  } catch {
    win?.close();
  }
}

export function IdeTabs() {
  const { state, activate, close } = useIdeTabs();
  const location = useLocation();
  const navigate = useNavigate();
  const shown = location.pathname === "/ide";
  useEffect(() => {
    if (shown && state.tabs.length === 0) navigate("/dashboard", { replace: true });
  }, [shown, state.tabs.length, navigate]);

  if (state.tabs.length === 0) return null;
  return (
    <Flex as="main" id="main" direction="column" h="calc(100vh - 60px)" display={shown ? "flex" : "none"}>
      <Flex role="tablist" aria-label="Open IDEs" borderBottomWidth="1px" overflowX="auto" flexShrink={0} align="stretch">
        {state.tabs.map((tab) => {
          const selected = tab.workspaceId === state.active;
          return (
            <Button
              key={tab.workspaceId}
              role="tab"
              id={`tab-${tab.workspaceId}`}
              aria-selected={selected}
              aria-controls={`panel-${tab.workspaceId}`}
              tabIndex={selected ? 0 : -1}
              variant="ghost"
              colorScheme="gray"
              borderRadius="0"
              borderRightWidth="1px"
              borderTop="3px solid"
              borderTopColor={selected ? "blue.600" : "transparent"}
              bg={selected ? "white" : "gray.100"}
              onClick={() => activate(tab.workspaceId)}
              onKeyDown={(event) => {
                // Arrow keys move between tabs, as the ARIA tabs pattern does.
                const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
                if (!step) return;
                const index = state.tabs.findIndex((t) => t.workspaceId === tab.workspaceId);
                const next = state.tabs[(index + step + state.tabs.length) % state.tabs.length];
                activate(next.workspaceId);
                document.getElementById(`tab-${next.workspaceId}`)?.focus();
              }}
              fontWeight={selected ? "bold" : "normal"}
              flexShrink={0}
            >
              {tab.name}
              {tab.phase === "stopped" ? " (stopped)" : ""}
            </Button>
          );
        })}
      </Flex>
      {state.tabs.map((tab) => {
        const selected = tab.workspaceId === state.active;
        const hasFrame = tab.phase === "live" || tab.phase === "launching";
        return (
          <Flex
            key={tab.workspaceId}
            role="tabpanel"
            id={`panel-${tab.workspaceId}`}
            aria-labelledby={`tab-${tab.workspaceId}`}
            direction="column"
            flex="1"
            minH={0}
            display={selected ? "flex" : "none"}
          >
            <HStack px={3} py={1} justify="flex-end" borderBottomWidth="1px" spacing={4} wrap="wrap">
              <Button size="sm" variant="link" colorScheme="blue" onClick={() => void openInOwnWindow(tab)} isDisabled={tab.phase !== "live"}>
                Open {tab.name} in its own window
              </Button>
              <Button size="sm" variant="link" colorScheme="gray" onClick={() => close(tab.workspaceId)}>
                Close tab
              </Button>
            </HStack>
            <TabMessage tab={tab} />
            <Box flex="1" minH={0}>
              {hasFrame && <IdeFrame key={tab.launch} tab={tab} visible={selected} />}
            </Box>
          </Flex>
        );
      })}
    </Flex>
  );
}
