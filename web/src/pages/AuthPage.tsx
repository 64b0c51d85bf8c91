import {
  Alert,
  AlertIcon,
  Box,
  Button,
  Container,
  Divider,
  FormControl,
  FormErrorMessage,
  FormHelperText,
  FormLabel,
  Heading,
  HStack,
  Input,
  Link,
  Radio,
  RadioGroup,
  Stack,
  Text,
} from "@chakra-ui/react";
import { useState, type FormEvent } from "react";
import { Link as RouterLink, useLocation, useNavigate, useSearchParams } from "react-router-dom";
import { ApiError } from "../api/client";
import type { PlanName } from "../api/types";
import { useAuth } from "../auth/AuthContext";
import { PasswordRules } from "../components/PasswordRules";
import { goToCheckout, rememberCheckoutAfterSignIn } from "../lib/checkout";
import { planTitle } from "../lib/format";
import { passwordOk } from "../lib/password";

const PLANS: PlanName[] = ["free", "starter", "pro"];

type Fields = "email" | "password" | "first_name" | "last_name" | "form";

export function ProviderButtons({ plan }: { plan: PlanName | null }) {
  // Full-page navigations: the provider's page, then back with a one-time code (never tokens).
  return (
    <Stack direction={{ base: "column", sm: "row" }} spacing={3}>
      <Button as="a" href="/api/auth/oauth/google/start" variant="outline" flex="1" onClick={() => rememberCheckoutAfterSignIn(plan)}>
        Continue with Google
      </Button>
      <Button as="a" href="/api/auth/oauth/github/start" variant="outline" flex="1" onClick={() => rememberCheckoutAfterSignIn(plan)}>
        Continue with GitHub
      </Button>
    </Stack>
  );
}

export function AuthForm({ mode, go = (url) => window.location.assign(url) }: { mode: "signup" | "signin"; go?: (url: string) => void }) {
  const { signIn, signUp } = useAuth();
  const navigate = useNavigate();
  const location = useLocation();
  const [params] = useSearchParams();
  const initialPlan = PLANS.includes(params.get("plan") as PlanName) ? (params.get("plan") as PlanName) : "free";
  const [plan, setPlan] = useState<PlanName>(initialPlan);
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [firstName, setFirstName] = useState("");
  const [lastName, setLastName] = useState("");
  const [errors, setErrors] = useState<Partial<Record<Fields, string>>>({});
  const [busy, setBusy] = useState(false);
  const signup = mode === "signup";

  async function submit(event: FormEvent) {
    event.preventDefault();
    setErrors({});
    if (signup && !passwordOk(password, email)) {
      setErrors({ password: "The password does not meet the rules below yet." });
      return;
    }
    setBusy(true);
    try {
      if (signup) {
        await signUp({ email, password, first_name: firstName || undefined, last_name: lastName || undefined });
        if (plan !== "free") {
          await goToCheckout(plan, go);
          return; // leaving for Checkout
        }
        navigate("/dashboard", { replace: true });
      } else {
        await signIn(email, password);
        const from = (location.state as { from?: string } | null)?.from;
        navigate(from && from !== "/signin" ? from : "/dashboard", { replace: true });
      }
    } catch (error) {
      if (error instanceof ApiError) {
        const field = error.field as Fields | undefined;
        if (field && ["email", "password", "first_name", "last_name"].includes(field)) {
          setErrors({ [field]: error.text });
        } else if (error.code === "billing_unavailable" || error.code === "billing_error" || error.code === "billing_not_configured") {
          // The account exists; only the payment step failed.
          setErrors({ form: `Your account is ready, but checkout could not start: ${error.message}. You can upgrade from Billing.` });
          navigate("/billing", { replace: true });
        } else {
          setErrors({ form: error.message });
        }
      } else {
        setErrors({ form: "Something went wrong. Please try again." });
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <Box as="form" onSubmit={submit} noValidate aria-labelledby="auth-title">
      <Stack spacing={4}>
        {errors.form && (
          <Alert status="error" borderRadius="md">
            <AlertIcon />
            <Text>{errors.form}</Text>
          </Alert>
        )}
        {signup && (
          <HStack spacing={3} align="start">
            <FormControl isInvalid={Boolean(errors.first_name)}>
              <FormLabel>First name</FormLabel>
              <Input name="first_name" autoComplete="given-name" value={firstName} onChange={(e) => setFirstName(e.target.value)} />
              <FormErrorMessage>{errors.first_name}</FormErrorMessage>
            </FormControl>
            <FormControl isInvalid={Boolean(errors.last_name)}>
              <FormLabel>Last name</FormLabel>
              <Input name="last_name" autoComplete="family-name" value={lastName} onChange={(e) => setLastName(e.target.value)} />
              <FormErrorMessage>{errors.last_name}</FormErrorMessage>
            </FormControl>
          </HStack>
        )}
        <FormControl isRequired isInvalid={Boolean(errors.email)}>
          <FormLabel>Email</FormLabel>
          <Input name="email" type="email" autoComplete={signup ? "email" : "username"} value={email} onChange={(e) => setEmail(e.target.value)} />
          <FormErrorMessage>{errors.email}</FormErrorMessage>
        </FormControl>
        <FormControl isRequired isInvalid={Boolean(errors.password)}>
          <FormLabel>Password</FormLabel>
          <Input
            name="password"
            type="password"
            autoComplete={signup ? "new-password" : "current-password"}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            aria-describedby={signup ? "password-rules" : undefined}
          />
          <FormErrorMessage>{errors.password}</FormErrorMessage>
          {signup && <PasswordRules id="password-rules" password={password} email={email} />}
          {!signup && (
            <Text mt={2} fontSize="sm">
              <Link as={RouterLink} to="/reset-password">
                Forgot your password?
              </Link>
            </Text>
          )}
        </FormControl>
        {signup && (
          <FormControl as="fieldset">
            <FormLabel as="legend">Plan</FormLabel>
            <RadioGroup name="plan" value={plan} onChange={(value) => setPlan(value as PlanName)}>
              <Stack direction={{ base: "column", sm: "row" }} spacing={4}>
                {PLANS.map((name) => (
                  <Radio key={name} value={name}>
                    {planTitle(name)}
                  </Radio>
                ))}
              </Stack>
            </RadioGroup>
            <FormHelperText>Paid plans continue to secure checkout; you can change plans later.</FormHelperText>
          </FormControl>
        )}
        {signup && (
          <Text fontSize="sm" color="gray.700">
            By signing up you agree to the{" "}
            <Link as={RouterLink} to="/terms">
              Terms
            </Link>{" "}
            and the{" "}
            <Link as={RouterLink} to="/privacy">
              Privacy policy
            </Link>
            .
          </Text>
        )}
        <Button type="submit" colorScheme="blue" isLoading={busy} loadingText={signup ? "Creating account" : "Signing in"}>
          {signup ? (plan === "free" ? "Create free account" : `Create account and pay for ${planTitle(plan)}`) : "Sign in"}
        </Button>
        <Divider />
        <ProviderButtons plan={signup ? plan : null} />
      </Stack>
    </Box>
  );
}

export default function AuthPage({ mode }: { mode: "signup" | "signin" }) {
  const signup = mode === "signup";
  return (
    <Container maxW="md" py={10}>
      <Heading as="h1" size="lg" mb={2} id="auth-title">
        {signup ? "Create your account" : "Sign in"}
      </Heading>
      <Text mb={6} color="gray.700">
        {signup ? (
          <>
            Already have an account?{" "}
            <Link as={RouterLink} to="/signin">
              Sign in
            </Link>
          </>
        ) : (
          <>
            New to Coditect?{" "}
            <Link as={RouterLink} to="/signup">
              Create an account
            </Link>
          </>
        )}
      </Text>
      <AuthForm key={mode} mode={mode} />
    </Container>
  );
}
