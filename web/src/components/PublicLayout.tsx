import { Box, Button, Container, Flex, HStack, Link, Text } from "@chakra-ui/react";
import { Link as RouterLink, Outlet } from "react-router-dom";
import { useAuth } from "../auth/AuthContext";
import { NoticeBanner } from "./NoticeBanner";

export function Brand() {
  return (
    <Link as={RouterLink} to="/" fontWeight="bold" fontSize="xl" color="gray.900" textDecoration="none">
      Coditect
    </Link>
  );
}

export function Footer() {
  return (
    <Box as="footer" borderTopWidth="1px" mt={16} py={6}>
      <Container maxW="6xl">
        <HStack spacing={6} wrap="wrap" fontSize="sm">
          <Text color="gray.600">© Coditect</Text>
          <Link as={RouterLink} to="/terms">
            Terms
          </Link>
          <Link as={RouterLink} to="/privacy">
            Privacy
          </Link>
        </HStack>
      </Container>
    </Box>
  );
}

export function PublicLayout() {
  const { signedIn } = useAuth();
  return (
    <Flex direction="column" minH="100vh">
      <Box as="header" borderBottomWidth="1px">
        <Container maxW="6xl" py={3}>
          <Flex align="center" justify="space-between" gap={3} wrap="wrap">
            <Brand />
            <HStack as="nav" aria-label="Account" spacing={2}>
              {signedIn ? (
                <Button as={RouterLink} to="/dashboard" colorScheme="blue" size="sm">
                  Dashboard
                </Button>
              ) : (
                <>
                  <Button as={RouterLink} to="/signin" variant="ghost" size="sm">
                    Sign in
                  </Button>
                  <Button as={RouterLink} to="/signup" colorScheme="blue" size="sm">
                    Start free
                  </Button>
                </>
              )}
            </HStack>
          </Flex>
        </Container>
      </Box>
      <Box as="main" flex="1" id="main">
        <Container maxW="6xl" pt={4}>
          <NoticeBanner />
        </Container>
        <Outlet />
      </Box>
      <Footer />
    </Flex>
  );
}
