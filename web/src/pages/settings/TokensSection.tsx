import {
  Alert,
  AlertIcon,
  Box,
  Button,
  Code,
  Flex,
  FormControl,
  FormErrorMessage,
  FormHelperText,
  FormLabel,
  Input,
  InputGroup,
  List,
  ListItem,
  Select,
  Skeleton,
  Stack,
  Text,
} from "@chakra-ui/react";
import { useState, type FormEvent } from "react";
import { useApiTokens, useCreateToken, useRevokeToken } from "../../api/account";
import { ApiError } from "../../api/client";
import type { ApiToken, ApiTokenCreated, TokenScope } from "../../api/types";
import { ago, date } from "../../lib/format";
import { ConfirmDialog, problem, Section, sentence } from "./common";

export const SCOPES: { value: TokenScope; label: string }[] = [
  { value: "read", label: "Read: your account, plan, usage and workspaces" },
  { value: "workspaces", label: "Workspaces: read, and create, start, stop and delete workspaces" },
  { value: "llm", label: "LLM: call the models through the LLM API" },
];
const EXPIRIES = [
  { value: "30", label: "30 days" },
  { value: "90", label: "90 days" },
  { value: "366", label: "1 year" },
  { value: "never", label: "Never" },
];

type Field = "name" | "form";

export function TokensSection() {
  const tokens = useApiTokens();
  const revoke = useRevokeToken();
  const [created, setCreated] = useState<ApiTokenCreated | null>(null);
  const [revoking, setRevoking] = useState<ApiToken | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function confirmRevoke() {
    if (!revoking) return;
    setError(null);
    try {
      await revoke.mutateAsync(revoking.token_id);
    } catch (failure) {
      setError(problem(failure));
    }
    setRevoking(null);
  }

  return (
    <Section title="Personal API tokens" id="tokens">
      <Stack spacing={4}>
        <Text color="gray.700">
          For scripts and command-line tools: send a token as <Code>Authorization: Bearer …</Code>. A token cannot change your password, sessions,
          tokens or delete the account.
        </Text>
        {created ? <NewSecret created={created} onDone={() => setCreated(null)} /> : <CreateForm onCreated={setCreated} />}
        {error && (
          <Alert status="error" borderRadius="md">
            <AlertIcon />
            <Text>{error}</Text>
          </Alert>
        )}
        {tokens.isError && <Text role="alert">{problem(tokens.error)}</Text>}
        {!tokens.data && !tokens.isError && <Skeleton height="60px" />}
        {tokens.data && tokens.data.length === 0 && <Text data-testid="no-tokens">You have no API tokens.</Text>}
        {tokens.data && tokens.data.length > 0 && (
          <List spacing={3} data-testid="token-list">
            {tokens.data.map((token) => (
              <ListItem key={token.token_id} borderWidth="1px" borderRadius="md" p={3} data-testid="token" data-name={token.name}>
                <Flex gap={3} wrap="wrap" justify="space-between" align="center">
                  <Box minW={0}>
                    <Text fontWeight="bold" wordBreak="break-word">
                      {token.name}
                    </Text>
                    <Text fontSize="sm" color="gray.700">
                      <Code>{token.prefix}…</Code> {token.scope} access, created {date(token.created_at)},{" "}
                      {token.expires_at ? `expires ${date(token.expires_at)}` : "never expires"}, last used {ago(token.last_used_at)}
                    </Text>
                  </Box>
                  <Button size="sm" variant="outline" colorScheme="red" onClick={() => setRevoking(token)} aria-label={`Revoke ${token.name}`}>
                    Revoke
                  </Button>
                </Flex>
              </ListItem>
            ))}
          </List>
        )}
      </Stack>
      <ConfirmDialog
        isOpen={revoking !== null}
        title="Revoke this token?"
        confirmLabel="Revoke token"
        busy={revoke.isPending}
        onConfirm={() => void confirmRevoke()}
        onClose={() => setRevoking(null)}
      >
        Scripts using “{revoking?.name}” stop working at once. This cannot be undone.
      </ConfirmDialog>
    </Section>
  );
}

function CreateForm({ onCreated }: { onCreated: (created: ApiTokenCreated) => void }) {
  const create = useCreateToken();
  const [name, setName] = useState("");
  const [scope, setScope] = useState<TokenScope>("read");
  const [expiry, setExpiry] = useState("90");
  const [errors, setErrors] = useState<Partial<Record<Field, string>>>({});

  async function submit(event: FormEvent) {
    event.preventDefault();
    setErrors({});
    if (!name.trim()) {
      setErrors({ name: "Give the token a name, such as the script or machine that will use it." });
      return;
    }
    try {
      const answer = await create.mutateAsync({
        name: name.trim(),
        scope,
        expires_in_days: expiry === "never" ? null : Number(expiry),
      });
      setName("");
      onCreated(answer);
    } catch (error) {
      if (error instanceof ApiError && (error.code === "name_taken" || error.field === "name")) setErrors({ name: sentence(error.text) });
      else setErrors({ form: problem(error) });
    }
  }

  return (
    <Box as="form" onSubmit={submit} noValidate aria-label="Create an API token" borderWidth="1px" borderRadius="md" p={3}>
      <Stack spacing={3}>
        {errors.form && (
          <Alert status="error" borderRadius="md">
            <AlertIcon />
            <Text>{errors.form}</Text>
          </Alert>
        )}
        <FormControl isRequired isInvalid={Boolean(errors.name)}>
          <FormLabel>Token name</FormLabel>
          <Input name="token_name" value={name} maxLength={100} onChange={(e) => setName(e.target.value)} />
          <FormErrorMessage>{errors.name}</FormErrorMessage>
        </FormControl>
        <Flex gap={3} direction={{ base: "column", md: "row" }}>
          <FormControl>
            <FormLabel>Access</FormLabel>
            <Select name="scope" value={scope} onChange={(e) => setScope(e.target.value as TokenScope)}>
              {SCOPES.map((s) => (
                <option key={s.value} value={s.value}>
                  {s.label}
                </option>
              ))}
            </Select>
          </FormControl>
          <FormControl maxW={{ md: "12rem" }}>
            <FormLabel>Expires after</FormLabel>
            <Select name="expiry" value={expiry} onChange={(e) => setExpiry(e.target.value)}>
              {EXPIRIES.map((e) => (
                <option key={e.value} value={e.value}>
                  {e.label}
                </option>
              ))}
            </Select>
            <FormHelperText>A token that never expires works until you revoke it.</FormHelperText>
          </FormControl>
        </Flex>
        <Button type="submit" colorScheme="blue" alignSelf="start" isLoading={create.isPending} loadingText="Creating token">
          Create token
        </Button>
      </Stack>
    </Box>
  );
}

// The secret is in this component's state only: gone once dismissed, never stored.
function NewSecret({ created, onDone }: { created: ApiTokenCreated; onDone: () => void }) {
  const [copied, setCopied] = useState<"yes" | "no" | null>(null);

  async function copy() {
    try {
      await navigator.clipboard.writeText(created.secret);
      setCopied("yes");
    } catch {
      setCopied("no");
    }
  }

  return (
    <Alert status="success" borderRadius="md" flexDirection="column" alignItems="stretch" gap={3} data-testid="new-token">
      <Text fontWeight="bold">Token “{created.token.name}” created. Copy it now: it is shown this once only.</Text>
      <FormControl>
        <FormLabel>Your new token</FormLabel>
        <InputGroup>
          <Input
            value={created.secret}
            readOnly
            fontFamily="mono"
            bg="white"
            data-testid="token-secret"
            onFocus={(e) => e.currentTarget.select()}
          />
        </InputGroup>
      </FormControl>
      <Flex gap={3} wrap="wrap" align="center">
        <Button onClick={() => void copy()} colorScheme="blue">
          Copy token
        </Button>
        <Button variant="outline" onClick={onDone}>
          Done
        </Button>
        <Text role="status" fontSize="sm">
          {copied === "yes" ? "Copied to the clipboard." : copied === "no" ? "Copying was not allowed here: select the token and copy it." : ""}
        </Text>
      </Flex>
    </Alert>
  );
}
