import { Alert, AlertDescription, AlertIcon, Box, Button, Container, Flex, HStack, Link, Text } from "@chakra-ui/react";
import { Suspense } from "react";
import { Link as RouterLink, NavLink, Outlet, useLocation, useNavigate } from "react-router-dom";
import { useMe } from "../api/hooks";
import { useAuth } from "../auth/AuthContext";
import { IdeTabs, IdeTabsProvider, useIdeTabs } from "../ide/IdeTabs";
import { planTitle } from "../lib/format";
import { NoticeBanner } from "./NoticeBanner";
import { Brand, Footer } from "./PublicLayout";

function NavItem({ to, children }: { to: string; children: React.ReactNode }) {
  return (
    <Link
      as={NavLink}
      to={to}
      px={2}
      py={1}
      borderRadius="md"
      textDecoration="none"
      color="gray.800"
      _activeLink={{ bg: "blue.50", color: "blue.800", fontWeight: "bold" }}
    >
      {children}
    </Link>
  );
}

function Header() {
  const { signOut } = useAuth();
  const { state } = useIdeTabs();
  const me = useMe();
  const navigate = useNavigate();
  return (
    <Box as="header" borderBottomWidth="1px" bg="white">
      <Container maxW="full" py={2}>
        <Flex align="center" gap={3} wrap="wrap" justify="space-between">
          <Brand />
          <HStack as="nav" aria-label="Main" spacing={1} wrap="wrap" flex="1">
            <NavItem to="/dashboard">Workspaces</NavItem>
            {state.tabs.length > 0 && <NavItem to="/ide">IDE ({state.tabs.length})</NavItem>}
            <NavItem to="/usage">Usage</NavItem>
            <NavItem to="/billing">Billing</NavItem>
            <NavItem to="/settings">Settings</NavItem>
          </HStack>
          <HStack spacing={3}>
            {me.data && (
              <Text fontSize="sm" color="gray.700" data-testid="current-plan">
                {planTitle(me.data.plan)} plan
              </Text>
            )}
            <Button
              size="sm"
              variant="outline"
              onClick={async () => {
                await signOut();
                navigate("/", { replace: true });
              }}
            >
              Sign out
            </Button>
          </HStack>
        </Flex>
      </Container>
    </Box>
  );
}

function PaymentBanner() {
  const me = useMe();
  if (me.data?.license.status !== "past_due") return null;
  return (
    <Alert status="warning" borderRadius="md" mb={4}>
      <AlertIcon />
      <AlertDescription>
        Your last payment failed. Your plan stays active for a grace period;{" "}
        <Link as={RouterLink} to="/billing">
          update your card in Billing
        </Link>{" "}
        to keep it.
      </AlertDescription>
    </Alert>
  );
}

function Pages() {
  const location = useLocation();
  const onIde = location.pathname === "/ide";
  return (
    <>
      {/* The IDE tabs stay mounted on every page; only shown on /ide. */}
      <IdeTabs />
      {!onIde && (
        <Flex direction="column" minH="calc(100vh - 60px)">
          <Box as="main" flex="1" id="main">
            <Container maxW="6xl" py={6}>
              <NoticeBanner />
              <PaymentBanner />
              <Suspense fallback={null}>
                <Outlet />
              </Suspense>
            </Container>
          </Box>
          <Footer />
        </Flex>
      )}
    </>
  );
}

export default function SignedInLayout() {
  return (
    <IdeTabsProvider>
      <Header />
      <Pages />
    </IdeTabsProvider>
  );
}
