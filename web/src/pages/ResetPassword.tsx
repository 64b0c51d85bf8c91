import { Alert, AlertIcon, Box, Button, Container, FormControl, FormErrorMessage, FormLabel, Heading, Input, Link, Stack, Text } from "@chakra-ui/react";
import { useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link as RouterLink, useNavigate } from "react-router-dom";
import { confirmPasswordReset, requestPasswordReset } from "../api/account";
import { ApiError, session } from "../api/client";
import { useAuth } from "../auth/AuthContext";
import { NewPasswordField } from "../components/PasswordRules";
import { passwordOk } from "../lib/password";
import { forgetResetToken, resetToken } from "../lib/returns";

function problem(error: unknown): string {
  return error instanceof ApiError ? error.text : "Something went wrong. Please try again.";
}

// Step 1: ask for a link by email (the same answer whether or not the address has an account).
function RequestForm() {
  const [email, setEmail] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [sent, setSent] = useState(false);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    if (!email.includes("@")) {
      setError("Enter the email address you sign in with.");
      return;
    }
    setBusy(true);
    try {
      await requestPasswordReset(email);
      setSent(true);
    } catch (failure) {
      setError(failure instanceof ApiError && failure.status === 429 ? "Too many reset requests for now. Please try again in an hour." : problem(failure));
    } finally {
      setBusy(false);
    }
  }

  if (sent) {
    return (
      <Alert status="success" role="status" borderRadius="md" data-testid="reset-sent">
        <AlertIcon />
        <Text>
          If {email} has a Coditect account, a reset link is on its way. It works once, within one hour. Open it in this browser.
        </Text>
      </Alert>
    );
  }
  return (
    <Box as="form" onSubmit={submit} noValidate aria-labelledby="reset-title">
      <Stack spacing={4}>
        <Text color="gray.700">Enter the email address of your account and we will mail you a link to choose a new password.</Text>
        <FormControl isRequired isInvalid={Boolean(error)}>
          <FormLabel>Email</FormLabel>
          <Input name="email" type="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} />
          <FormErrorMessage>{error}</FormErrorMessage>
        </FormControl>
        <Button type="submit" colorScheme="blue" isLoading={busy} loadingText="Sending">
          Send reset link
        </Button>
      </Stack>
    </Box>
  );
}

// Step 2: the page the mailed link opens (its token was taken out of the address bar).
function NewPasswordForm({ token, onRestart }: { token: string; onRestart: () => void }) {
  const { setNotice } = useAuth();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [password, setPassword] = useState("");
  const [fieldError, setFieldError] = useState<string | null>(null);
  const [linkError, setLinkError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setFieldError(null);
    if (!passwordOk(password, null)) {
      setFieldError("The password does not meet the rules below yet.");
      return;
    }
    setBusy(true);
    try {
      await confirmPasswordReset(token, password);
      forgetResetToken();
      // Every session of the account has ended, this tab's included.
      session.clear();
      queryClient.clear();
      setNotice({ status: "success", text: "Your password was changed and every session signed out. Sign in with the new password." });
      navigate("/signin", { replace: true });
    } catch (failure) {
      if (failure instanceof ApiError && (failure.code === "invalid_token" || failure.code === "token_expired")) {
        forgetResetToken();
        setLinkError(failure.code === "token_expired" ? "This reset link has expired." : "This reset link is not valid or was already used.");
      } else {
        setFieldError(problem(failure));
      }
    } finally {
      setBusy(false);
    }
  }

  if (linkError) {
    return (
      <Stack spacing={4}>
        <Alert status="error" borderRadius="md">
          <AlertIcon />
          <Text>{linkError} Ask for a new one.</Text>
        </Alert>
        <Button onClick={onRestart}>Ask for a new link</Button>
      </Stack>
    );
  }
  return (
    <Box as="form" onSubmit={submit} noValidate aria-labelledby="reset-title">
      <Stack spacing={4}>
        <Text color="gray.700">Choose a new password. Every device signed in to your account will be signed out.</Text>
        <NewPasswordField id="reset-password-rules" value={password} onChange={setPassword} error={fieldError} email={null} />
        <Button type="submit" colorScheme="blue" isLoading={busy} loadingText="Saving">
          Set new password
        </Button>
      </Stack>
    </Box>
  );
}

export default function ResetPassword() {
  const [token, setToken] = useState(resetToken);
  return (
    <Container maxW="md" py={10}>
      <Heading as="h1" size="lg" mb={4} id="reset-title">
        {token ? "Choose a new password" : "Reset your password"}
      </Heading>
      {token ? <NewPasswordForm token={token} onRestart={() => setToken(null)} /> : <RequestForm />}
      <Text mt={6}>
        <Link as={RouterLink} to="/signin">
          Back to sign in
        </Link>
      </Text>
    </Container>
  );
}
