import { useEffect } from "react";
import { Navigate } from "react-router-dom";
import { useAuth } from "../auth/AuthContext";
import { activatingPlan, clearActivating } from "../lib/checkout";
import { planTitle } from "../lib/format";

// Where Stripe Checkout sends the browser back: success waits on the dashboard for the webhook
// ("activating…"); a cancel says nothing was charged.
export default function BillingReturn({ outcome }: { outcome: "success" | "cancel" }) {
  const { setNotice } = useAuth();
  useEffect(() => {
    if (outcome === "cancel") {
      const plan = activatingPlan();
      clearActivating();
      setNotice({ status: "info", text: `Checkout cancelled${plan ? ` for the ${planTitle(plan)} plan` : ""}: nothing was charged.` });
    }
  }, [outcome, setNotice]);
  return <Navigate to={outcome === "success" ? "/dashboard" : "/billing"} replace />;
}
