import { Box, Heading, SimpleGrid, Skeleton, Text } from "@chakra-ui/react";
import { useMe, useWorkspaces } from "../api/hooks";
import { Meter } from "../components/Meter";
import { planTitle } from "../lib/format";
import { limitState } from "../lib/limits";

export default function Usage() {
  const me = useMe();
  const workspaces = useWorkspaces();
  if (!me.data || !workspaces.data) return <Skeleton height="300px" aria-busy="true" />;
  const { limits, usage } = me.data;
  const state = limitState(me.data, workspaces.data);
  const hours = Number(usage.workspace_seconds ?? 0) / 3600;
  const llm = usage.llm_requests;
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
        {llm !== undefined ? (
          <Meter label="LLM requests this month" used={Number(llm)} limit={limits.llm_requests_per_month} unit="requests" testId="usage-llm" />
        ) : (
          <Box borderWidth="1px" borderRadius="lg" p={4} data-testid="usage-llm">
            <Text fontWeight="bold">LLM requests this month</Text>
            <Text color="gray.700" mt={2}>
              Your plan includes {limits.llm_requests_per_month.toLocaleString("en-US")} requests a month. Usage is not reported here yet.
            </Text>
          </Box>
        )}
      </SimpleGrid>
    </Box>
  );
}
