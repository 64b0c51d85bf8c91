// Pieces the Settings sections share: the section frame, a confirmation dialog, error wording.
import {
  AlertDialog,
  AlertDialogBody,
  AlertDialogContent,
  AlertDialogFooter,
  AlertDialogHeader,
  AlertDialogOverlay,
  Box,
  Button,
  Heading,
} from "@chakra-ui/react";
import { useRef, type ReactNode } from "react";
import { ApiError } from "../../api/client";

export function Section({ title, id, children }: { title: string; id: string; children: ReactNode }) {
  const heading = `settings-${id}`;
  return (
    <Box as="section" aria-labelledby={heading} borderWidth="1px" borderRadius="lg" p={4} data-testid={heading}>
      <Heading as="h2" size="md" id={heading} mb={3}>
        {title}
      </Heading>
      {children}
    </Box>
  );
}

// Server messages are lower-case phrases ("the password is not correct"): shown as sentences.
export function sentence(text: string): string {
  const trimmed = text.trim();
  if (!trimmed) return trimmed;
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

export function problem(error: unknown, fallback = "Something went wrong. Please try again."): string {
  if (error instanceof ApiError) {
    if (error.status === 429) return "Too many attempts for now. Please wait a while and try again.";
    return sentence(error.text);
  }
  return fallback;
}

export function ConfirmDialog({
  isOpen,
  title,
  confirmLabel,
  busy,
  onConfirm,
  onClose,
  children,
}: {
  isOpen: boolean;
  title: string;
  confirmLabel: string;
  busy?: boolean;
  onConfirm: () => void;
  onClose: () => void;
  children: ReactNode;
}) {
  const cancel = useRef<HTMLButtonElement>(null);
  return (
    <AlertDialog isOpen={isOpen} leastDestructiveRef={cancel} onClose={onClose}>
      <AlertDialogOverlay>
        <AlertDialogContent mx={3}>
          <AlertDialogHeader fontSize="lg">{title}</AlertDialogHeader>
          <AlertDialogBody>{children}</AlertDialogBody>
          <AlertDialogFooter gap={3}>
            <Button ref={cancel} onClick={onClose}>
              Cancel
            </Button>
            <Button colorScheme="red" onClick={onConfirm} isLoading={busy}>
              {confirmLabel}
            </Button>
          </AlertDialogFooter>
        </AlertDialogContent>
      </AlertDialogOverlay>
    </AlertDialog>
  );
}
