import { Alert, AlertIcon, Badge, Box, Button, Flex, Heading, Skeleton, Stack, Text } from "@chakra-ui/react";
import { useMutation } from "@tanstack/react-query";
import { api } from "../api/client";
import { useMe } from "../api/hooks";
import { dateTime, planTitle } from "../lib/format";
import { problem, Section } from "./settings/common";
import { ConnectionsSection } from "./settings/ConnectionsSection";
import { DeleteSection } from "./settings/DeleteSection";
import { PasswordSection } from "./settings/PasswordSection";
import { ProfileForm } from "./settings/ProfileForm";
import { SessionsSection } from "./settings/SessionsSection";
import { TokensSection } from "./settings/TokensSection";

export default function Settings() {
  const me = useMe();
  const resend = useMutation({ mutationFn: () => api.post("/api/auth/verify-email/resend", {}) });
  if (!me.data) return <Skeleton height="300px" aria-busy="true" />;
  const user = me.data.user;
  return (
    <Stack spacing={6}>
      <Heading as="h1" size="lg">
        Settings
      </Heading>
      <Section title="Profile" id="profile">
        <ProfileForm key={user.user_id} user={user} />
        <Flex gap={2} wrap="wrap" align="center">
          <Text>
            Email:{" "}
            <Text as="strong" data-testid="settings-email" wordBreak="break-all">
              {user.email}
            </Text>
          </Text>
          <Badge colorScheme={user.email_verified ? "green" : "orange"}>{user.email_verified ? "verified" : "not verified"}</Badge>
        </Flex>
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
                <Text>{problem(resend.error, "The mail could not be sent.")}</Text>
              </Alert>
            )}
          </Box>
        )}
      </Section>
      <PasswordSection email={user.email} emailVerified={user.email_verified} />
      <ConnectionsSection />
      <SessionsSection />
      <TokensSection />
      <DeleteSection email={user.email} />
    </Stack>
  );
}
