import { Alert, AlertIcon, Badge, Box, Button, Flex, List, ListItem, Skeleton, Stack, Text, useDisclosure } from "@chakra-ui/react";
import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useNavigate } from "react-router-dom";
import { signOutEverywhere, useRevokeSession, useSessions } from "../../api/account";
import { session as browserSession } from "../../api/client";
import type { SignInSession } from "../../api/types";
import { useAuth } from "../../auth/AuthContext";
import { describeClient } from "../../lib/clients";
import { ago, dateTime } from "../../lib/format";
import { ConfirmDialog, problem, Section } from "./common";

const METHODS: Record<string, string> = { password: "password", google: "Google", github: "GitHub" };

export function SessionsSection() {
  const sessions = useSessions();
  const revoke = useRevokeSession();
  const { signOut, setNotice } = useAuth();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const confirm = useDisclosure();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function endSession(item: SignInSession) {
    setError(null);
    if (item.current) {
      await signOut();
      navigate("/", { replace: true });
      return;
    }
    try {
      await revoke.mutateAsync(item.session_id);
    } catch (failure) {
      setError(problem(failure));
    }
  }

  async function everywhere() {
    setBusy(true);
    setError(null);
    try {
      await signOutEverywhere();
      browserSession.clear();
      queryClient.clear();
      setNotice({ status: "success", text: "You were signed out everywhere: every browser, script session and IDE. Sign in again to continue." });
      navigate("/signin", { replace: true });
    } catch (failure) {
      setError(problem(failure));
      setBusy(false);
      confirm.onClose();
    }
  }

  return (
    <Section title="Signed-in devices" id="sessions">
      <Stack spacing={4}>
        {error && (
          <Alert status="error" borderRadius="md">
            <AlertIcon />
            <Text>{error}</Text>
          </Alert>
        )}
        {sessions.isError && <Text role="alert">{problem(sessions.error)}</Text>}
        {!sessions.data && !sessions.isError && <Skeleton height="80px" />}
        {sessions.data && (
          <List spacing={3} data-testid="session-list">
            {sessions.data.map((item) => (
              <ListItem key={item.session_id} borderWidth="1px" borderRadius="md" p={3} data-testid="session" data-current={item.current}>
                <Flex gap={3} wrap="wrap" justify="space-between" align="center">
                  <Box minW={0}>
                    <Text fontWeight="bold">
                      {describeClient(item.client)} {item.current && <Badge colorScheme="green">this browser</Badge>}
                    </Text>
                    <Text fontSize="sm" color="gray.700">
                      Signed in {dateTime(item.created_at)} with {METHODS[item.method] ?? item.method}
                      {item.client_ip ? ` from ${item.client_ip}` : ""}; last active {ago(item.last_used_at)}.
                    </Text>
                  </Box>
                  <Button size="sm" variant="outline" onClick={() => void endSession(item)} isLoading={revoke.isPending && revoke.variables === item.session_id}>
                    {item.current ? "Sign out here" : "Sign out"}
                    <Text as="span" position="absolute" w="1px" h="1px" overflow="hidden" clipPath="inset(50%)">
                      {` ${describeClient(item.client)}, signed in ${dateTime(item.created_at)}`}
                    </Text>
                  </Button>
                </Flex>
              </ListItem>
            ))}
          </List>
        )}
        <Box>
          <Button colorScheme="red" variant="outline" onClick={confirm.onOpen}>
            Sign out everywhere
          </Button>
          <Text fontSize="sm" color="gray.700" mt={2}>
            Ends every session of your account, this one too, and closes every open IDE. API tokens keep working; revoke them below.
          </Text>
        </Box>
      </Stack>
      <ConfirmDialog
        isOpen={confirm.isOpen}
        title="Sign out everywhere?"
        confirmLabel="Sign out everywhere"
        busy={busy}
        onConfirm={() => void everywhere()}
        onClose={confirm.onClose}
      >
        Every browser and IDE signed in to your account is signed out, including this one. You will need to sign in again.
      </ConfirmDialog>
    </Section>
  );
}
