import { Alert, AlertIcon, Badge, Box, Button, Flex, List, ListItem, Skeleton, Stack, Text } from "@chakra-ui/react";
import { useState } from "react";
import { startLink, useConnections, useUnlink } from "../../api/account";
import type { Connection, Provider } from "../../api/types";
import { date } from "../../lib/format";
import { PROVIDER_NAMES, rememberLinking } from "../../lib/returns";
import { problem, Section } from "./common";

const PROVIDERS: Provider[] = ["google", "github"];

export function ConnectionsSection({ go = (url) => window.location.assign(url) }: { go?: (url: string) => void }) {
  const connections = useConnections();
  const unlink = useUnlink();
  const [linking, setLinking] = useState<Provider | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function link(provider: Provider) {
    setError(null);
    setLinking(provider);
    try {
      const { url } = await startLink(provider);
      rememberLinking(provider);
      go(url); // the provider's page; its return brings the browser back to Settings
    } catch (failure) {
      setError(problem(failure));
      setLinking(null);
    }
  }

  async function disconnect(item: Connection) {
    setError(null);
    try {
      await unlink.mutateAsync({ provider: item.provider, subject: item.subject });
    } catch (failure) {
      setError(problem(failure));
    }
  }

  return (
    <Section title="Sign-in methods" id="connections">
      {connections.isError && <Text role="alert">{problem(connections.error)}</Text>}
      {!connections.data && !connections.isError && <Skeleton height="80px" />}
      {connections.data && (
        <Stack spacing={3}>
          {error && (
            <Alert status="error" borderRadius="md" data-testid="connections-error">
              <AlertIcon />
              <Text>{error}</Text>
            </Alert>
          )}
          <Text>
            Email and password: {connections.data.has_password ? <Badge colorScheme="green">set</Badge> : <Badge>not set</Badge>}
          </Text>
          <List spacing={3}>
            {PROVIDERS.map((provider) => {
              const name = PROVIDER_NAMES[provider];
              const linked = connections.data.connections.filter((c) => c.provider === provider);
              return (
                <ListItem key={provider} borderWidth="1px" borderRadius="md" p={3} data-testid={`connection-${provider}`}>
                  {linked.length === 0 && (
                    <Flex gap={3} wrap="wrap" justify="space-between" align="center">
                      <Text>
                        <strong>{name}</strong>: not connected
                      </Text>
                      <Button size="sm" variant="outline" onClick={() => void link(provider)} isLoading={linking === provider}>
                        Connect {name}
                      </Button>
                    </Flex>
                  )}
                  {linked.map((item) => (
                    <Flex key={item.subject} gap={3} wrap="wrap" justify="space-between" align="center">
                      <Box minW={0}>
                        <Text>
                          <strong>{name}</strong> <Badge colorScheme="green">connected</Badge>
                        </Text>
                        <Text fontSize="sm" color="gray.700" wordBreak="break-word">
                          {item.email ?? "no email"}, since {date(item.linked_at)}
                        </Text>
                      </Box>
                      <Button
                        size="sm"
                        variant="outline"
                        onClick={() => void disconnect(item)}
                        isLoading={unlink.isPending && unlink.variables?.subject === item.subject}
                        aria-label={`Disconnect ${name}${item.email ? ` (${item.email})` : ""}`}
                      >
                        Disconnect
                      </Button>
                    </Flex>
                  ))}
                </ListItem>
              );
            })}
          </List>
        </Stack>
      )}
    </Section>
  );
}
