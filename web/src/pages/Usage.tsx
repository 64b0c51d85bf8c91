import { Box, Heading, SimpleGrid, Skeleton, Table, TableContainer, Tbody, Td, Text, Th, Thead, Tr } from "@chakra-ui/react";
import { useLlmUsage } from "../api/account";
import { useMe, useWorkspaces } from "../api/hooks";
import type { LlmUsage, Me } from "../api/types";
import { Meter } from "../components/Meter";
import { count, dateTime, planTitle } from "../lib/format";
import { limitState } from "../lib/limits";

export default function Usage() {
  const me = useMe();
  const workspaces = useWorkspaces();
  const llm = useLlmUsage();
  if (!me.data || !workspaces.data) return <Skeleton height="300px" aria-busy="true" />;
  const { limits, usage } = me.data;
  const state = limitState(me.data, workspaces.data);
  const hours = Number(usage.workspace_seconds ?? 0) / 3600;
  return (
    <Box>
      <Heading as="h1" size="lg" mb={1}>
        Usage
      </Heading>
      <Text color="gray.700" mb={6}>
        {planTitle(me.data.plan)} plan, {usage.period} (UTC month).
      </Text>
      <SimpleGrid columns={{ base: 1, md: 2 }} spacing={4}>
        <Meter label="Running workspaces" used={state.running} limit={limits.running_workspaces} unit="running" testId="usage-running" />
        <Meter
          label="Storage"
          used={state.storageUsed}
          limit={limits.storage_gb}
          unit="GB"
          note="Stopped workspaces keep their storage until deleted."
          testId="usage-storage"
        />
        <Meter
          label="Workspace hours this month"
          used={hours}
          limit={limits.workspace_hours_per_month}
          unit="hours"
          note="Counted when a workspace stops; a running workspace's time is added when it stops."
          testId="usage-hours"
        />
        <LlmMeter me={me.data} report={llm.data} loading={llm.isPending} />
      </SimpleGrid>
      {llm.data && llm.data.by_model.length > 0 && <ByModel report={llm.data} />}
    </Box>
  );
}

// The gateway's own count (GET /api/llm/usage: what the limit is enforced on); the account's
// counter in /api/auth/me when that report is unavailable; otherwise only the plan's allowance.
function LlmMeter({ me, report, loading }: { me: Me; report: LlmUsage | undefined; loading: boolean }) {
  const label = "LLM requests this month";
  if (report) {
    const left = report.remaining !== null ? `${count(report.remaining)} left` : null;
    const resets = report.resets_at ? `the count starts again ${dateTime(report.resets_at)}` : null;
    const note = [left, resets].filter(Boolean).join("; ");
    return <Meter label={label} used={report.used} limit={report.limit} unit="requests" note={note ? `${note}.` : undefined} testId="usage-llm" />;
  }
  if (loading) return <Skeleton height="96px" borderRadius="lg" />;
  const counted = me.usage.llm_requests;
  if (counted !== undefined) return <Meter label={label} used={Number(counted)} limit={me.limits.llm_requests_per_month} unit="requests" testId="usage-llm" />;
  return (
    <Box borderWidth="1px" borderRadius="lg" p={4} data-testid="usage-llm">
      <Text fontWeight="bold">{label}</Text>
      <Text color="gray.700" mt={2}>
        Your plan includes {count(me.limits.llm_requests_per_month)} requests a month. The count could not be loaded right now.
      </Text>
    </Box>
  );
}

function ByModel({ report }: { report: LlmUsage }) {
  return (
    <Box as="section" aria-labelledby="llm-by-model" mt={6}>
      <Heading as="h2" size="md" id="llm-by-model" mb={3}>
        LLM requests by model, {report.period}
      </Heading>
      <TableContainer>
        <Table size="sm" data-testid="llm-by-model">
          <Thead>
            <Tr>
              <Th scope="col">Model</Th>
              <Th scope="col" isNumeric>
                Requests
              </Th>
              <Th scope="col" isNumeric>
                Input tokens
              </Th>
              <Th scope="col" isNumeric>
                Output tokens
              </Th>
            </Tr>
          </Thead>
          <Tbody>
            {report.by_model.map((row) => (
              <Tr key={row.model}>
                <Td>{row.model}</Td>
                <Td isNumeric>{count(row.requests)}</Td>
                <Td isNumeric>{count(row.input_tokens)}</Td>
                <Td isNumeric>{count(row.output_tokens)}</Td>
              </Tr>
            ))}
          </Tbody>
        </Table>
      </TableContainer>
    </Box>
  );
}
