import { Alert, AlertIcon, Box, Button, FormControl, FormErrorMessage, FormLabel, Input, Skeleton, Stack, Text } from "@chakra-ui/react";
import { useState, type FormEvent } from "react";
import { useChangePassword, useConnections, useSetPassword } from "../../api/account";
import { ApiError } from "../../api/client";
import { useAuth } from "../../auth/AuthContext";
import { NewPasswordField } from "../../components/PasswordRules";
import { passwordOk } from "../../lib/password";
import { problem, Section, sentence } from "./common";

type Field = "current_password" | "new_password" | "form";
type Errors = Partial<Record<Field, string>>;

// Which field a refusal of /password/change or /password/set belongs to.
export function passwordErrors(error: unknown): Errors {
  if (error instanceof ApiError) {
    if (error.code === "wrong_password") return { current_password: "That is not your current password." };
    if (error.field === "password" || error.field === "new_password") return { new_password: sentence(error.text) };
  }
  return { form: problem(error) };
}

export function PasswordSection({ email, emailVerified }: { email: string; emailVerified: boolean }) {
  const connections = useConnections();
  if (!connections.data) {
    return (
      <Section title="Password" id="password">
        {connections.isError ? <Text role="alert">{problem(connections.error)}</Text> : <Skeleton height="80px" />}
      </Section>
    );
  }
  return (
    <Section title="Password" id="password">
      {connections.data.has_password ? <ChangeForm email={email} /> : <SetForm email={email} emailVerified={emailVerified} />}
    </Section>
  );
}

function ChangeForm({ email }: { email: string }) {
  const change = useChangePassword();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [errors, setErrors] = useState<Errors>({});
  const [done, setDone] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setErrors({});
    setDone(false);
    const missing: Errors = {};
    if (!current) missing.current_password = "Enter your current password.";
    if (!passwordOk(next, email)) missing.new_password = "The new password does not meet the rules below yet.";
    if (Object.keys(missing).length) {
      setErrors(missing);
      return;
    }
    try {
      await change.mutateAsync({ current_password: current, new_password: next });
      setCurrent("");
      setNext("");
      setDone(true);
    } catch (error) {
      setErrors(passwordErrors(error));
    }
  }

  return (
    <Box as="form" onSubmit={submit} noValidate aria-label="Change password" maxW="md">
      <Stack spacing={4}>
        {done && (
          <Alert status="success" role="status" borderRadius="md" data-testid="password-changed">
            <AlertIcon />
            <Text>Password changed. Every other device and IDE session was signed out.</Text>
          </Alert>
        )}
        {errors.form && (
          <Alert status="error" borderRadius="md">
            <AlertIcon />
            <Text>{errors.form}</Text>
          </Alert>
        )}
        {/* The account's email, for password managers to file the new password under. */}
        <Input type="email" name="username" autoComplete="username" value={email} readOnly hidden aria-hidden="true" tabIndex={-1} />
        <FormControl isRequired isInvalid={Boolean(errors.current_password)}>
          <FormLabel>Current password</FormLabel>
          <Input name="current_password" type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} />
          <FormErrorMessage>{errors.current_password}</FormErrorMessage>
        </FormControl>
        <NewPasswordField id="new-password-rules" value={next} onChange={setNext} error={errors.new_password} email={email} />
        <Button type="submit" colorScheme="blue" alignSelf="start" isLoading={change.isPending} loadingText="Changing password">
          Change password
        </Button>
      </Stack>
    </Box>
  );
}

// An account that signs in with Google/GitHub only can add a password (verified email first).
function SetForm({ email, emailVerified }: { email: string; emailVerified: boolean }) {
  const set = useSetPassword();
  const { setNotice } = useAuth();
  const [next, setNext] = useState("");
  const [errors, setErrors] = useState<Errors>({});

  async function submit(event: FormEvent) {
    event.preventDefault();
    setErrors({});
    if (!passwordOk(next, email)) {
      setErrors({ new_password: "The password does not meet the rules below yet." });
      return;
    }
    try {
      await set.mutateAsync({ new_password: next });
      setNext("");
      setNotice({ status: "success", text: "Password set. You can now also sign in with your email and this password." });
    } catch (error) {
      setErrors(passwordErrors(error));
    }
  }

  return (
    <Box as="form" onSubmit={submit} noValidate aria-label="Set a password" maxW="md">
      <Stack spacing={4}>
        <Text>You sign in with Google or GitHub. Add a password to also sign in with your email address.</Text>
        {!emailVerified && (
          <Alert status="info" borderRadius="md">
            <AlertIcon />
            <Text>Verify your email first (see Profile above).</Text>
          </Alert>
        )}
        {errors.form && (
          <Alert status="error" borderRadius="md">
            <AlertIcon />
            <Text>{errors.form}</Text>
          </Alert>
        )}
        <Input type="email" name="username" autoComplete="username" value={email} readOnly hidden aria-hidden="true" tabIndex={-1} />
        <NewPasswordField id="set-password-rules" value={next} onChange={setNext} error={errors.new_password} email={email} />
        <Button type="submit" colorScheme="blue" alignSelf="start" isLoading={set.isPending} loadingText="Setting password">
          Set password
        </Button>
      </Stack>
    </Box>
  );
}
