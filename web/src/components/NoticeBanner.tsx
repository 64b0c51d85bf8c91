import { Alert, AlertDescription, AlertIcon, CloseButton } from "@chakra-ui/react";
import { useAuth } from "../auth/AuthContext";

// Messages from sign-in returns and email verification, shown once where the person is.
export function NoticeBanner() {
  const { notice, setNotice } = useAuth();
  if (!notice) return null;
  return (
    <Alert status={notice.status} role={notice.status === "error" ? "alert" : "status"} mb={4} borderRadius="md" data-testid="notice">
      <AlertIcon />
      <AlertDescription flex="1">
        {notice.text}
      </AlertDescription>
      <CloseButton aria-label="Dismiss message" onClick={() => setNotice(null)} />
    </Alert>
  );
}
