import { Alert, AlertIcon, Badge, Box, Button, Heading, List, ListItem, Skeleton, Stack, Text } from "@chakra-ui/react";
import { useMutation } from "@tanstack/react-query";
import { useNavigate } from "react-router-dom";
import { api, ApiError } from "../api/client";
import { useMe } from "../api/hooks";
import { useAuth } from "../auth/AuthContext";
import { dateTime, planTitle } from "../lib/format";

const PROVIDERS = [
  { id: "google", label: "Google" },
  { id: "github", label: "GitHub" },
];

function Section({ title, children }: { title: string; children: React.ReactNode }) {
  const id = `settings-${title.toLowerCase().replace(/\W+/g, "-")}`;
  return (
    <Box as="section" aria-labelledby={id} borderWidth="1px" borderRadius="lg" p={4}>
      <Heading as="h2" size="md" id={id} mb={3}>
        {title}
      </Heading>
      {children}
    </Box>
  );
}

export default function Settings() {
  const me = useMe();
  const { signOut } = useAuth();
  const navigate = useNavigate();
  const resend = useMutation({ mutationFn: () => api.post("/api/auth/verify-email/resend", {}) });
  if (!me.data) return <Skeleton height="300px" aria-busy="true" />;
  const user = me.data.user;
  const name = [user.first_name, user.last_name].filter(Boolean).join(" ");
  const linked = new Set(user.identities ?? []);
  return (
    <Stack spacing={6}>
      <Heading as="h1" size="lg">
        Settings
      </Heading>
      <Section title="Profile">
        <Text>
          Name: <strong>{name || "not given"}</strong>
        </Text>
        <Text>
          Email: <strong data-testid="settings-email">{user.email}</strong>{" "}
          <Badge colorScheme={user.email_verified ? "green" : "orange"}>{user.email_verified ? "verified" : "not verified"}</Badge>
        </Text>
        <Text>Member since {dateTime(user.created_at)}</Text>
        <Text>Plan: {planTitle(me.data.plan)}</Text>
        {!user.email_verified && (
          <Box mt={3}>
            <Text mb={2}>Follow the link we mailed you to verify your email.</Text>
            <Button size="sm" onClick={() => resend.mutate()} isLoading={resend.isPending}>
              Resend verification mail
            </Button>
            {resend.isSuccess && (
              <Alert status="success" role="status" mt={2}>
                <AlertIcon />
                <Text>Verification mail sent; the previous link no longer works.</Text>
              </Alert>
            )}
            {resend.isError && (
              <Alert status="error" mt={2}>
                <AlertIcon />
                <Text>{resend.error instanceof ApiError ? resend.error.message : "The mail could not be sent."}</Text>
              </Alert>
            )}
          </Box>
        )}
      </Section>
      <Section title="Sign-in methods">
        <List spacing={1}>
          {PROVIDERS.map((p) => (
            <ListItem key={p.id}>
              {p.label}: {linked.has(p.id) ? <Badge colorScheme="green">connected</Badge> : <Text as="span" color="gray.700">not connected (sign in with {p.label} using this email to connect it)</Text>}
            </ListItem>
          ))}
        </List>
      </Section>
      <Section title="Session">
        <Button
          onClick={async () => {
            await signOut();
            navigate("/", { replace: true });
          }}
        >
          Sign out
        </Button>
      </Section>
    </Stack>
  );
}
