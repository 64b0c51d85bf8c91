import { Badge, Box, Button, Heading, List, ListItem, SimpleGrid, Skeleton, Text } from "@chakra-ui/react";
import { Link as RouterLink } from "react-router-dom";
import { usePlans } from "../api/hooks";
import type { Plan } from "../api/types";
import { count, planTitle } from "../lib/format";

export function planFeatures(plan: Plan): string[] {
  const l = plan.limits;
  return [
    `${l.running_workspaces} running workspace${l.running_workspaces === 1 ? "" : "s"}`,
    `${count(l.workspace_hours_per_month)} workspace hours a month`,
    `${count(l.storage_gb)} GB storage, kept while stopped`,
    `${count(l.llm_requests_per_month)} LLM requests a month`,
  ];
}

interface Props {
  // What a card's button does; by default it leads to sign-up with that plan.
  action?: (plan: Plan) => { label: string; to?: string; onClick?: () => void; disabled?: boolean };
  current?: string;
}

export function PlanCards({ action, current }: Props) {
  const plans = usePlans();
  if (plans.isError) {
    return <Text role="alert">Prices could not be loaded right now. Please reload the page.</Text>;
  }
  if (!plans.data) {
    return (
      <SimpleGrid columns={{ base: 1, md: 3 }} spacing={6} aria-busy="true">
        {[0, 1, 2].map((i) => (
          <Skeleton key={i} height="240px" borderRadius="lg" />
        ))}
      </SimpleGrid>
    );
  }
  return (
    <SimpleGrid columns={{ base: 1, md: 3 }} spacing={6}>
      {plans.data.plans.map((plan) => {
        const act =
          action?.(plan) ??
          (plan.name === "free"
            ? { label: "Start free", to: "/signup" }
            : { label: `Choose ${planTitle(plan.name)}`, to: `/signup?plan=${plan.name}` });
        return (
          <Box
            key={plan.name}
            as="article"
            aria-labelledby={`plan-${plan.name}`}
            borderWidth="1px"
            borderRadius="lg"
            p={6}
            data-testid={`plan-${plan.name}`}
            borderColor={plan.name === "starter" ? "blue.400" : undefined}
          >
            <Heading as="h3" size="md" id={`plan-${plan.name}`}>
              {planTitle(plan.name)} {current === plan.name && <Badge colorScheme="green">Your plan</Badge>}
            </Heading>
            <Text fontSize="3xl" fontWeight="bold" mt={2}>
              ${plan.price_usd_per_month}
              <Text as="span" fontSize="md" fontWeight="normal" color="gray.600">
                {" "}
                / month
              </Text>
            </Text>
            <List spacing={1} my={4}>
              {planFeatures(plan).map((feature) => (
                <ListItem key={feature}>✓ {feature}</ListItem>
              ))}
            </List>
            {act.to ? (
              <Button as={RouterLink} to={act.to} colorScheme="blue" variant={plan.name === "free" ? "outline" : "solid"} w="full">
                {act.label}
              </Button>
            ) : (
              <Button onClick={act.onClick} isDisabled={act.disabled} colorScheme="blue" w="full">
                {act.label}
              </Button>
            )}
          </Box>
        );
      })}
    </SimpleGrid>
  );
}
