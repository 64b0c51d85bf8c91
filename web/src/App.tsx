import { Box, Center, Spinner } from "@chakra-ui/react";
import { lazy, Suspense, useCallback, type ReactNode } from "react";
import { Navigate, Route, Routes, useLocation, useNavigate } from "react-router-dom";
import { AuthProvider, useAuth } from "./auth/AuthContext";
import { PublicLayout } from "./components/PublicLayout";
import { Landing } from "./pages/Landing";

// Everything past the landing page loads on demand (the landing page's JS budget).
const AuthPage = lazy(() => import("./pages/AuthPage"));
const loadLayout = () => import("./components/SignedInLayout");
const loadDashboard = () => import("./pages/Dashboard");
const SignedInLayout = lazy(loadLayout);
const Dashboard = lazy(loadDashboard);

// A returning session (a kept refresh token) fetches the signed-in code while the session is
// renewed, instead of after: the dashboard's full load is one round trip shorter.
if (sessionStorage.getItem("coditect_refresh") && window.location.pathname !== "/") {
  void loadLayout();
  void loadDashboard();
}
const Usage = lazy(() => import("./pages/Usage"));
const Billing = lazy(() => import("./pages/Billing"));
const BillingReturn = lazy(() => import("./pages/BillingReturn"));
const Settings = lazy(() => import("./pages/Settings"));
const ResetPassword = lazy(() => import("./pages/ResetPassword"));
const Terms = lazy(() => import("./pages/Legal").then((m) => ({ default: m.Terms })));
const Privacy = lazy(() => import("./pages/Legal").then((m) => ({ default: m.Privacy })));
const NotFound = lazy(() => import("./pages/Legal").then((m) => ({ default: m.NotFound })));

function Loading() {
  return (
    <Center py={16} role="status" aria-live="polite">
      <Spinner label="Loading" />
    </Center>
  );
}

function RequireSession({ children }: { children: ReactNode }) {
  const { ready, signedIn } = useAuth();
  const location = useLocation();
  if (!ready) return <Loading />;
  if (!signedIn) return <Navigate to="/signin" replace state={{ from: location.pathname }} />;
  return <>{children}</>;
}

export function App() {
  const navigate = useNavigate();
  const toDashboard = useCallback(() => navigate("/dashboard", { replace: true }), [navigate]);
  const go = useCallback((path: string) => navigate(path, { replace: true }), [navigate]);
  return (
    <AuthProvider onSignedIn={toDashboard} go={go}>
      <Box minH="100vh">
        <Suspense fallback={<Loading />}>
          <Routes>
            <Route element={<PublicLayout />}>
              <Route index element={<Landing />} />
              <Route path="signup" element={<AuthPage mode="signup" />} />
              <Route path="signin" element={<AuthPage mode="signin" />} />
              <Route path="reset-password" element={<ResetPassword />} />
              <Route path="terms" element={<Terms />} />
              <Route path="privacy" element={<Privacy />} />
            </Route>
            <Route
              element={
                <RequireSession>
                  <SignedInLayout />
                </RequireSession>
              }
            >
              <Route path="dashboard" element={<Dashboard />} />
              {/* The IDE tabs live in the layout, so their frames survive page changes. */}
              <Route path="ide" element={null} />
              <Route path="usage" element={<Usage />} />
              <Route path="billing" element={<Billing />} />
              <Route path="billing/success" element={<BillingReturn outcome="success" />} />
              <Route path="billing/cancel" element={<BillingReturn outcome="cancel" />} />
              <Route path="settings" element={<Settings />} />
            </Route>
            <Route element={<PublicLayout />}>
              <Route path="*" element={<NotFound />} />
            </Route>
          </Routes>
        </Suspense>
      </Box>
    </AuthProvider>
  );
}
