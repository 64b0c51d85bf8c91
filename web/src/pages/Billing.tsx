import {
  Alert,
  AlertDescription,
  AlertIcon,
  Badge,
  Box,
  Button,
  Heading,
  Link,
  Skeleton,
  Stack,
  Table,
  TableContainer,
  Tbody,
  Td,
  Text,
  Th,
  Thead,
  Tr,
} from "@chakra-ui/react";
import { useState } from "react";
import { ApiError } from "../api/client";
import { useBilling, useMe } from "../api/hooks";
import type { PlanName } from "../api/types";
import { PlanCards } from "../components/PlanCards";
import { goToCheckout, goToPortal } from "../lib/checkout";
import { date, dateTime, money, planTitle } from "../lib/format";

const STATUS_TEXT: Record<string, string> = {
  active: "Active",
  past_due: "Payment failed",
  incomplete: "Waiting for payment",
  canceled: "Canceled",
};

export default function Billing() {
  const me = useMe();
  const billing = useBilling();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  async function run(what: string, action: () => Promise<void>) {
    setError(null);
    setBusy(what);
    try {
      await action();
    } catch (failure) {
      setError(failure instanceof ApiError ? failure.message : "Billing could not be reached. Please try again.");
      setBusy(null);
    }
  }

  if (!me.data) return <Skeleton height="300px" aria-busy="true" />;
  const sub = billing.data?.subscription;
  const subscribed = sub && sub.plan !== "free" && (sub.status === "active" || sub.status === "past_due");
  return (
    <Box>
      <Heading as="h1" size="lg" mb={4}>
        Billing
      </Heading>
      {error && (
        <Alert status="error" mb={4} borderRadius="md">
          <AlertIcon />
          <AlertDescription>{error}</AlertDescription>
        </Alert>
      )}
      {sub?.status === "past_due" && (
        <Alert status="warning" mb={4} borderRadius="md" data-testid="grace-banner">
          <AlertIcon />
          <AlertDescription>
            Your last payment failed. Your {planTitle(sub.plan)} plan stays active until <strong>{dateTime(sub.grace_until)}</strong>; after that
            the Free plan's limits apply. Update your card to keep it.
          </AlertDescription>
        </Alert>
      )}
      <Box borderWidth="1px" borderRadius="lg" p={4} mb={6}>
        <Stack direction={{ base: "column", md: "row" }} justify="space-between" spacing={4}>
          <Box>
            <Text>
              Current plan: <strong data-testid="billing-plan">{planTitle(me.data.plan)}</strong>{" "}
              {sub && (
                <Badge colorScheme={sub.status === "active" ? "green" : "orange"} data-testid="billing-status">
                  {STATUS_TEXT[sub.status] ?? sub.status}
                </Badge>
              )}
            </Text>
            {sub?.cancel_at_period_end && <Text color="gray.700">Ends at the end of this billing period.</Text>}
            {billing.data?.next_invoice ? (
              <Text data-testid="next-invoice">
                Next invoice: {money(billing.data.next_invoice.amount_due, billing.data.next_invoice.currency)} on{" "}
                {date(billing.data.next_invoice.date)}
              </Text>
            ) : (
              billing.data && <Text color="gray.700">No upcoming invoice.</Text>
            )}
          </Box>
          <Stack direction={{ base: "column", sm: "row" }} spacing={3}>
            {billing.data && billing.data.invoices.length + (subscribed ? 1 : 0) > 0 && (
              <Button onClick={() => run("portal", () => goToPortal())} isLoading={busy === "portal"}>
                Manage card and subscription
              </Button>
            )}
          </Stack>
        </Stack>
      </Box>

      <Heading as="h2" size="md" mb={3}>
        Plans
      </Heading>
      <Box mb={8}>
        <PlanCards
          current={me.data.plan}
          action={(plan) => {
            if (plan.name === me.data.plan) return { label: "Your current plan", disabled: true, onClick: () => undefined };
            if (plan.name === "free") {
              return subscribed
                ? { label: "Downgrade in the portal", onClick: () => void run("portal", () => goToPortal()) }
                : { label: "Included", disabled: true, onClick: () => undefined };
            }
            if (subscribed) return { label: `Switch to ${planTitle(plan.name)} in the portal`, onClick: () => void run("portal", () => goToPortal()) };
            return { label: `Upgrade to ${planTitle(plan.name)}`, onClick: () => void run(plan.name, () => goToCheckout(plan.name as PlanName)) };
          }}
        />
      </Box>

      <Heading as="h2" size="md" mb={3}>
        Invoices
      </Heading>
      {billing.isError ? (
        <Text role="alert">Invoices could not be loaded: {(billing.error as Error).message}</Text>
      ) : !billing.data ? (
        <Skeleton height="80px" aria-busy="true" />
      ) : billing.data.invoices.length === 0 ? (
        <Text color="gray.700" data-testid="no-invoices">
          No invoices yet.
        </Text>
      ) : (
        <TableContainer borderWidth="1px" borderRadius="lg">
          <Table size="sm" data-testid="invoices">
            <Thead>
              <Tr>
                <Th scope="col">Date</Th>
                <Th scope="col">Number</Th>
                <Th scope="col">Status</Th>
                <Th scope="col" isNumeric>
                  Amount
                </Th>
              </Tr>
            </Thead>
            <Tbody>
              {billing.data.invoices.map((invoice) => (
                <Tr key={invoice.id}>
                  <Td>{date(invoice.created)}</Td>
                  <Td>
                    {invoice.hosted_invoice_url ? (
                      <Link href={invoice.hosted_invoice_url} isExternal rel="noopener noreferrer">
                        {invoice.number ?? invoice.id}
                      </Link>
                    ) : (
                      (invoice.number ?? invoice.id)
                    )}
                  </Td>
                  <Td>{invoice.status ?? "—"}</Td>
                  <Td isNumeric>{money(invoice.status === "paid" ? invoice.amount_paid : invoice.amount_due, invoice.currency)}</Td>
                </Tr>
              ))}
            </Tbody>
          </Table>
        </TableContainer>
      )}
    </Box>
  );
}
