import {
  Alert,
  AlertIcon,
  Box,
  Button,
  FormControl,
  FormErrorMessage,
  FormLabel,
  Input,
  Modal,
  ModalBody,
  ModalCloseButton,
  ModalContent,
  ModalFooter,
  ModalHeader,
  ModalOverlay,
  Stack,
  Text,
  useDisclosure,
} from "@chakra-ui/react";
import { useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useNavigate } from "react-router-dom";
import { deleteAccount, exportAccount, useConnections } from "../../api/account";
import { ApiError, session } from "../../api/client";
import { useAuth } from "../../auth/AuthContext";
import { problem, Section, sentence } from "./common";

function saveFile(blob: Blob, name: string) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function DeleteSection({ email }: { email: string }) {
  const dialog = useDisclosure();
  const [exporting, setExporting] = useState(false);
  const [exportError, setExportError] = useState<string | null>(null);

  async function download() {
    setExporting(true);
    setExportError(null);
    try {
      saveFile(await exportAccount(), "coditect-account.json");
    } catch (failure) {
      setExportError(problem(failure));
    } finally {
      setExporting(false);
    }
  }

  return (
    <Section title="Your data and account" id="delete">
      <Stack spacing={4}>
        <Box>
          <Text mb={2}>Download everything Coditect holds about your account as a JSON file: profile, sign-in methods, sessions, API tokens (without secrets), plan history, workspaces and usage.</Text>
          <Button onClick={() => void download()} isLoading={exporting} loadingText="Preparing download">
            Download my data
          </Button>
          {exportError && (
            <Text role="alert" color="red.700" mt={2}>
              {exportError}
            </Text>
          )}
        </Box>
        <Box>
          <Text mb={2}>
            Deleting your account removes your workspaces and their files, cancels your subscription and signs you out everywhere. It cannot be undone;
            download your data first if you want to keep it.
          </Text>
          <Button colorScheme="red" onClick={dialog.onOpen}>
            Delete account…
          </Button>
        </Box>
      </Stack>
      {dialog.isOpen && <DeleteDialog email={email} onClose={dialog.onClose} />}
    </Section>
  );
}

function DeleteDialog({ email, onClose }: { email: string; onClose: () => void }) {
  const connections = useConnections();
  const { signOut, setNotice } = useAuth();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [password, setPassword] = useState("");
  const [errors, setErrors] = useState<{ password?: string; form?: string; reauth?: boolean }>({});
  const [busy, setBusy] = useState(false);
  const hasPassword = connections.data?.has_password ?? true;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setErrors({});
    if (hasPassword && !password) {
      setErrors({ password: "Enter your password to confirm." });
      return;
    }
    setBusy(true);
    try {
      await deleteAccount(hasPassword ? password : null);
      session.clear();
      queryClient.clear();
      setNotice({ status: "info", text: `The account ${email} was deleted. Its workspaces and files are being removed.` });
      navigate("/", { replace: true });
    } catch (failure) {
      setBusy(false);
      if (failure instanceof ApiError && failure.code === "wrong_password") setErrors({ password: "That is not your password." });
      else if (failure instanceof ApiError && failure.field === "password") setErrors({ password: sentence(failure.text) });
      else if (failure instanceof ApiError && failure.code === "reauthentication_required") setErrors({ form: problem(failure), reauth: true });
      else setErrors({ form: problem(failure) });
    }
  }

  async function signInAgain() {
    await signOut();
    navigate("/signin", { replace: true, state: { from: "/settings" } });
  }

  return (
    <Modal isOpen onClose={onClose} size={{ base: "full", sm: "md" }}>
      <ModalOverlay />
      <ModalContent as="form" onSubmit={submit} noValidate>
        <ModalHeader>Delete the account {email}?</ModalHeader>
        <ModalCloseButton />
        <ModalBody>
          <Stack spacing={4}>
            <Text>
              Every workspace of <strong>{email}</strong> and its files will be removed, the subscription canceled, and every session signed out. Invoices are kept as the
              law requires.
            </Text>
            {errors.form && (
              <Alert status="error" borderRadius="md">
                <AlertIcon />
                <Text>{errors.form}</Text>
              </Alert>
            )}
            {hasPassword ? (
              <FormControl isRequired isInvalid={Boolean(errors.password)}>
                <FormLabel>Your password</FormLabel>
                <Input name="delete_password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} />
                <FormErrorMessage>{errors.password}</FormErrorMessage>
              </FormControl>
            ) : (
              <Text>Your account signs in with Google or GitHub: it can be deleted within 5 minutes of signing in.</Text>
            )}
          </Stack>
        </ModalBody>
        <ModalFooter gap={3} flexWrap="wrap">
          <Button onClick={onClose}>Keep my account</Button>
          {errors.reauth && (
            <Button variant="outline" onClick={() => void signInAgain()}>
              Sign in again
            </Button>
          )}
          <Button type="submit" colorScheme="red" isLoading={busy} loadingText="Deleting">
            Delete account
          </Button>
        </ModalFooter>
      </ModalContent>
    </Modal>
  );
}
