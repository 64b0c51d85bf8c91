import { Box, Flex, Progress, Text } from "@chakra-ui/react";

// One usage figure against its limit, labelled for screen readers.
export function Meter({ label, used, limit, unit, note, testId }: { label: string; used: number; limit: number; unit: string; note?: string; testId?: string }) {
  const ratio = limit > 0 ? Math.min(100, (used / limit) * 100) : 0;
  const text = `${used.toLocaleString("en-US", { maximumFractionDigits: 1 })} of ${limit.toLocaleString("en-US")} ${unit}`;
  return (
    <Box borderWidth="1px" borderRadius="lg" p={4} data-testid={testId}>
      <Flex justify="space-between" wrap="wrap" gap={2}>
        <Text fontWeight="bold">{label}</Text>
        <Text data-testid={testId ? `${testId}-value` : undefined}>{text}</Text>
      </Flex>
      <Progress value={ratio} mt={2} borderRadius="md" colorScheme={ratio >= 100 ? "red" : ratio >= 80 ? "orange" : "blue"} aria-label={`${label}: ${text}`} />
      {note && (
        <Text fontSize="sm" color="gray.700" mt={2}>
          {note}
        </Text>
      )}
    </Box>
  );
}
