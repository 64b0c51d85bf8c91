import { Button, Container, Heading, ListItem, Stack, Text, UnorderedList } from "@chakra-ui/react";
import { Link as RouterLink } from "react-router-dom";

function Page({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <Container maxW="3xl" py={10}>
      <Heading as="h1" size="lg" mb={6}>
        {title}
      </Heading>
      <Stack spacing={4}>{children}</Stack>
    </Container>
  );
}

export function Terms() {
  return (
    <Page title="Terms of Service">
      <Text>These terms govern your use of Coditect, a hosted development environment.</Text>
      <UnorderedList spacing={2}>
        <ListItem>You are responsible for the code and data you put in your workspaces and for keeping your credentials safe.</ListItem>
        <ListItem>Paid plans are billed monthly in advance through Stripe and renew until cancelled; you can cancel any time in the billing portal.</ListItem>
        <ListItem>
          If a payment fails, your paid plan stays active for a 7-day grace period; after that the Free plan's limits apply and
          workspaces beyond them are stopped. Stopped workspaces keep their files.
        </ListItem>
        <ListItem>Idle workspaces are stopped automatically; their files and storage are kept. Deleting a workspace removes its storage.</ListItem>
        <ListItem>Do not use Coditect to attack other systems, mine cryptocurrency, or break the law.</ListItem>
      </UnorderedList>
    </Page>
  );
}

export function Privacy() {
  return (
    <Page title="Privacy policy">
      <Text>What we keep about you, and why.</Text>
      <UnorderedList spacing={2}>
        <ListItem>Your account: email, name, and a salted hash of your password (never the password itself).</ListItem>
        <ListItem>If you sign in with Google or GitHub: the account id and verified email they give us.</ListItem>
        <ListItem>Billing: Stripe holds your card; we keep your Stripe customer id, your plan and its status.</ListItem>
        <ListItem>Usage: workspace hours, storage and LLM requests per month, to apply your plan's limits.</ListItem>
        <ListItem>Your workspaces' files stay in your workspace's own storage until you delete it.</ListItem>
      </UnorderedList>
      <Text>We do not sell your data. Sign-in sessions are kept in your browser tab only, and end when you sign out.</Text>
    </Page>
  );
}

export function NotFound() {
  return (
    <Page title="Page not found">
      <Text>There is nothing at this address.</Text>
      <Button as={RouterLink} to="/" alignSelf="start">
        Go to the home page
      </Button>
    </Page>
  );
}
