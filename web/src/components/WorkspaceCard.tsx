import {
  AlertDialog,
  AlertDialogBody,
  AlertDialogContent,
  AlertDialogFooter,
  AlertDialogHeader,
  AlertDialogOverlay,
  Badge,
  Box,
  Button,
  Flex,
  Heading,
  List,
  ListItem,
  Spinner,
  Stack,
  Text,
  useDisclosure,
} from "@chakra-ui/react";
import { useRef } from "react";
import type { Workspace } from "../api/types";
import { ago, dateTime } from "../lib/format";
import { actionsFor, isChanging, statusView } from "../lib/status";

export type WorkspaceAction = "open" | "stop" | "start" | "delete";

interface Props {
  ws: Workspace;
  onAction: (action: WorkspaceAction, ws: Workspace) => void;
  busy?: WorkspaceAction | null;
  startBlocked?: string | null;
}

export function WorkspaceCard({ ws, onAction, busy, startBlocked }: Props) {
  const view = statusView(ws);
  const can = actionsFor(ws.status);
  const confirm = useDisclosure();
  const cancelRef = useRef<HTMLButtonElement>(null);
  const changing = isChanging(ws.status);
  const headingId = `ws-${ws.workspace_id}`;
  return (
    <Box as="article" aria-labelledby={headingId} borderWidth="1px" borderRadius="lg" p={4} data-testid="workspace" data-name={ws.name} data-status={ws.status}>
      <Flex justify="space-between" align="start" gap={3} wrap="wrap">
        <Box minW={0}>
          <Heading as="h3" size="md" id={headingId} wordBreak="break-word">
            {ws.name}
          </Heading>
          <Stack direction="row" align="center" mt={1} spacing={2}>
            <Badge colorScheme={view.colorScheme} data-testid="status">
              {view.label}
            </Badge>
            {changing && <Spinner size="xs" label={`${ws.name} is ${view.label.toLowerCase()}`} />}
          </Stack>
          <Text mt={2} color="gray.700" data-testid="status-description">
            {view.description}
          </Text>
        </Box>
        <Stack direction="row" spacing={2} wrap="wrap">
          {can.open && (
            <Button colorScheme="blue" onClick={() => onAction("open", ws)} aria-label={`Open ${ws.name}`}>
              Open
            </Button>
          )}
          {can.start && (
            <Button
              onClick={() => onAction("start", ws)}
              isLoading={busy === "start"}
              isDisabled={Boolean(startBlocked)}
              title={startBlocked ?? undefined}
              aria-label={`Start ${ws.name}`}
            >
              Start
            </Button>
          )}
          {can.stop && (
            <Button onClick={() => onAction("stop", ws)} isLoading={busy === "stop"} aria-label={`Stop ${ws.name}`}>
              Stop
            </Button>
          )}
          {can.remove && (
            <Button variant="outline" colorScheme="red" onClick={confirm.onOpen} isLoading={busy === "delete"} aria-label={`Delete ${ws.name}`}>
              Delete
            </Button>
          )}
        </Stack>
      </Flex>
      {changing && ws.progress.length > 0 && (
        <List mt={3} spacing={1} fontSize="sm" aria-label={`Progress of ${ws.name}`} data-testid="progress">
          {ws.progress.slice(-6).map((step, i, shown) => (
            <ListItem key={`${step.at}-${i}`} color={i === shown.length - 1 ? "gray.900" : "gray.600"}>
              {i === shown.length - 1 ? "→ " : "✓ "}
              {step.message}
            </ListItem>
          ))}
        </List>
      )}
      <Stack direction={{ base: "column", sm: "row" }} spacing={{ base: 0, sm: 6 }} mt={3} fontSize="sm" color="gray.700">
        <Text>Created {dateTime(ws.created_at)}</Text>
        <Text>Last active {ago(ws.last_active)}</Text>
        {ws.delete_after && <Text>Storage kept until {dateTime(ws.delete_after)}</Text>}
      </Stack>
      {can.start && startBlocked && (
        <Text mt={2} fontSize="sm" color="orange.800">
          {startBlocked}
        </Text>
      )}
      <AlertDialog isOpen={confirm.isOpen} leastDestructiveRef={cancelRef} onClose={confirm.onClose}>
        <AlertDialogOverlay>
          <AlertDialogContent mx={3}>
            <AlertDialogHeader fontSize="lg">Delete “{ws.name}”?</AlertDialogHeader>
            <AlertDialogBody>
              This removes the workspace <strong>{ws.name}</strong> and all of its files and storage. It cannot be undone.
            </AlertDialogBody>
            <AlertDialogFooter gap={3}>
              <Button ref={cancelRef} onClick={confirm.onClose}>
                Keep it
              </Button>
              <Button
                colorScheme="red"
                onClick={() => {
                  confirm.onClose();
                  onAction("delete", ws);
                }}
              >
                Delete {ws.name}
              </Button>
            </AlertDialogFooter>
          </AlertDialogContent>
        </AlertDialogOverlay>
      </AlertDialog>
    </Box>
  );
}
