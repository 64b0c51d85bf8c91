import { Box, Button, Container, Heading, SimpleGrid, Stack, Text } from "@chakra-ui/react";
import { Link as RouterLink } from "react-router-dom";
import { PlanCards } from "../components/PlanCards";

const FEATURES = [
  { title: "A full IDE in the browser", text: "Eclipse Theia with a terminal, Git and extensions, nothing to install." },
  { title: "Many LLMs, one place", text: "Chat with and code alongside several models from inside the editor." },
  { title: "Session tabs", text: "Keep several workspaces open side by side and switch between them instantly." },
  { title: "Your files are kept", text: "Stopping a workspace, or letting it idle, keeps your files and storage." },
];

export function Landing() {
  return (
    <>
      <Box as="section" aria-labelledby="hero" py={{ base: 10, md: 20 }} bg="gray.50">
        <Container maxW="4xl" textAlign="center">
          <Heading as="h1" id="hero" size="2xl" lineHeight="short">
            Your own cloud workspace with a browser IDE and many LLMs
          </Heading>
          <Text fontSize="xl" mt={4} color="gray.700">
            Sign up, pick a plan, and code in seconds. Every workspace runs on its own, with its own storage.
          </Text>
          <Stack direction={{ base: "column", sm: "row" }} spacing={4} justify="center" mt={8}>
            <Button as={RouterLink} to="/signup" colorScheme="blue" size="lg">
              Start free
            </Button>
            <Button as="a" href="#pricing" size="lg" variant="outline">
              See pricing
            </Button>
          </Stack>
        </Container>
      </Box>
      <Container maxW="6xl" py={12} as="section" aria-labelledby="features">
        <Heading as="h2" id="features" size="lg" mb={6}>
          What you get
        </Heading>
        <SimpleGrid columns={{ base: 1, md: 2 }} spacing={6}>
          {FEATURES.map((f) => (
            <Box key={f.title}>
              <Heading as="h3" size="md">
                {f.title}
              </Heading>
              <Text mt={2} color="gray.700">
                {f.text}
              </Text>
            </Box>
          ))}
        </SimpleGrid>
      </Container>
      <Container maxW="6xl" py={12} as="section" aria-labelledby="pricing-title" id="pricing">
        <Heading as="h2" id="pricing-title" size="lg" mb={2}>
          Pricing
        </Heading>
        <Text mb={6} color="gray.700">
          Start free; upgrade when you need more running workspaces, hours or storage. Cancel any time.
        </Text>
        <PlanCards />
      </Container>
    </>
  );
}
