import {
  Alert,
  AlertDescription,
  AlertIcon,
  Box,
  Button,
  CloseButton,
  Flex,
  FormControl,
  FormErrorMessage,
  FormHelperText,
  FormLabel,
  Heading,
  Input,
  Link,
  SimpleGrid,
  Skeleton,
  Stack,
  Text,
} from "@chakra-ui/react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState, type FormEvent } from "react";
import { Link as RouterLink } from "react-router-dom";
import { api, ApiError } from "../api/client";
import { keys, useMe, useWorkspaces } from "../api/hooks";
import type { Workspace } from "../api/types";
import { WorkspaceCard, type WorkspaceAction } from "../components/WorkspaceCard";
import { useIdeTabs } from "../ide/IdeTabs";
import { activatingPlan, clearActivating, goToCheckout, takeCheckoutAfterSignIn } from "../lib/checkout";
import { planTitle } from "../lib/format";
import { limitState } from "../lib/limits";

function ActivatingBanner() {
  const [waitingFor, setWaitingFor] = useState(activatingPlan);
  const me = useMe({ pollWhile: (m) => waitingFor !== null && m.plan !== waitingFor });
  const [done, setDone] = useState<string | null>(null);
  useEffect(() => {
    if (waitingFor && me.data?.plan === waitingFor) {
      clearActivating();
      setDone(waitingFor);
      setWaitingFor(null);
    }
  }, [me.data?.plan, waitingFor]);
  if (waitingFor) {
    return (
      <Alert status="info" role="status" borderRadius="md" mb={4} data-testid="activating">
        <AlertIcon />
        <AlertDescription>
          Activating your {planTitle(waitingFor)} plan… This takes a few seconds after payment.
        </AlertDescription>
      </Alert>
    );
  }
  if (done) {
    return (
      <Alert status="success" role="status" borderRadius="md" mb={4} data-testid="activated">
        <AlertIcon />
        <AlertDescription flex="1">
          Your {planTitle(done)} plan is active.
        </AlertDescription>
        <CloseButton aria-label="Dismiss message" onClick={() => setDone(null)} />
      </Alert>
    );
  }
  return null;
}

function CreateWorkspace({ blocked }: { blocked: string | null }) {
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: (workspaceName: string) => api.post<{ workspace: Workspace }>("/api/workspaces", { name: workspaceName }),
    onSuccess: () => {
      setName("");
      void queryClient.invalidateQueries({ queryKey: keys.workspaces });
    },
    onError: (failure) => setError(failure instanceof ApiError ? failure.text : "The workspace could not be created."),
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    const trimmed = name.trim();
    if (!/^[A-Za-z0-9][A-Za-z0-9 _.-]{0,62}$/.test(trimmed)) {
      setError("Use 1–63 letters, digits, spaces, '.', '_' or '-', starting with a letter or digit.");
      return;
    }
    create.mutate(trimmed);
  }
  return (
    <Box as="form" onSubmit={submit} borderWidth="1px" borderRadius="lg" p={4} mb={6} aria-labelledby="create-title" noValidate>
      <Heading as="h2" size="sm" id="create-title" mb={3}>
        New workspace
      </Heading>
      <Flex gap={3} direction={{ base: "column", sm: "row" }} align={{ base: "stretch", sm: "end" }}>
        <FormControl isInvalid={Boolean(error)} flex="1">
          <FormLabel>Workspace name</FormLabel>
          <Input name="workspace-name" value={name} onChange={(e) => setName(e.target.value)} maxLength={63} placeholder="e.g. my-project" />
          <FormErrorMessage>{error}</FormErrorMessage>
          {blocked && (
            <FormHelperText id="create-blocked" color="orange.800" data-testid="limit-message">
              {blocked}{" "}
              <Link as={RouterLink} to="/billing">
                See plans
              </Link>
            </FormHelperText>
          )}
        </FormControl>
        <Button type="submit" colorScheme="blue" isLoading={create.isPending} isDisabled={Boolean(blocked)} aria-describedby={blocked ? "create-blocked" : undefined}>
          Create workspace
        </Button>
      </Flex>
    </Box>
  );
}

export default function Dashboard() {
  const me = useMe();
  const workspaces = useWorkspaces();
  const tabs = useIdeTabs();
  const queryClient = useQueryClient();
  const [busy, setBusy] = useState<Record<string, WorkspaceAction>>({});
  const [error, setError] = useState<string | null>(null);
  const checkoutStarted = useRef(false);

  // A paid plan picked before signing in with Google/GitHub continues to Checkout now.
  useEffect(() => {
    if (checkoutStarted.current) return;
    checkoutStarted.current = true;
    const plan = takeCheckoutAfterSignIn();
    if (plan) goToCheckout(plan).catch((failure) => setError(failure instanceof ApiError ? failure.message : "Checkout could not start."));
  }, []);

  const act = useMutation({
    mutationFn: async ({ action, ws }: { action: WorkspaceAction; ws: Workspace }) => {
      if (action === "delete") return api.delete(`/api/workspaces/${ws.workspace_id}`);
      return api.post(`/api/workspaces/${ws.workspace_id}/${action}`, {});
    },
    onMutate: ({ action, ws }) => setBusy((b) => ({ ...b, [ws.workspace_id]: action })),
    onError: (failure, { action, ws }) =>
      setError(`Could not ${action} “${ws.name}”: ${failure instanceof ApiError ? failure.message : "please try again"}.`),
    onSettled: (_data, _error, { ws }) => {
      setBusy((b) => {
        const next = { ...b };
        delete next[ws.workspace_id];
        return next;
      });
      return queryClient.invalidateQueries({ queryKey: keys.workspaces });
    },
  });

  function onAction(action: WorkspaceAction, ws: Workspace) {
    setError(null);
    if (action === "open") tabs.open(ws);
    else act.mutate({ action, ws });
  }

  const list = (workspaces.data ?? []).filter((ws) => ws.status !== "deleted");
  const limits = me.data && workspaces.data ? limitState(me.data, workspaces.data) : null;

  return (
    <Box>
      <ActivatingBanner />
      <Flex justify="space-between" align="baseline" wrap="wrap" gap={2} mb={4}>
        <Heading as="h1" size="lg">
          Workspaces
        </Heading>
        {me.data && limits && (
          <Text color="gray.700" data-testid="plan-usage">
            {planTitle(me.data.plan)} plan: {limits.running} of {me.data.limits.running_workspaces} running · {limits.storageUsed} of{" "}
            {me.data.limits.storage_gb} GB storage
          </Text>
        )}
      </Flex>
      {error && (
        <Alert status="error" borderRadius="md" mb={4}>
          <AlertIcon />
          <AlertDescription flex="1">
            {error}
          </AlertDescription>
          <CloseButton aria-label="Dismiss error" onClick={() => setError(null)} />
        </Alert>
      )}
      <CreateWorkspace blocked={limits?.createBlocked ?? null} />
      <Text fontSize="sm" color="gray.700" mb={4}>
        Stopping a workspace, or letting it stop when idle, keeps its files and storage: start it again to carry on. Only Delete removes
        them.
      </Text>
      {workspaces.isError && (
        <Alert status="error" mb={4}>
          <AlertIcon />
          <Text>Your workspaces could not be loaded: {(workspaces.error as Error).message}</Text>
        </Alert>
      )}
      {!workspaces.data && !workspaces.isError ? (
        <Stack spacing={4} aria-busy="true">
          <Skeleton height="120px" borderRadius="lg" />
          <Skeleton height="120px" borderRadius="lg" />
        </Stack>
      ) : list.length === 0 ? (
        <Box borderWidth="1px" borderStyle="dashed" borderRadius="lg" p={8} textAlign="center" data-testid="empty">
          <Text fontWeight="bold">No workspaces yet.</Text>
          <Text color="gray.700">Name one above and create it: it is ready in a few seconds.</Text>
        </Box>
      ) : (
        <SimpleGrid columns={1} spacing={4} as="section" aria-label="Your workspaces">
          {list.map((ws) => (
            <WorkspaceCard key={ws.workspace_id} ws={ws} onAction={onAction} busy={busy[ws.workspace_id] ?? null} startBlocked={limits?.startBlocked ?? null} />
          ))}
        </SimpleGrid>
      )}
    </Box>
  );
}
