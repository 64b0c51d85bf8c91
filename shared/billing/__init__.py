"""Billing with Stripe: ``settings``, ``licensing`` (subscription -> license), ``gateway`` (the
Stripe API, imported on the first call), ``grace``, ``service`` (sign-up subscriptions, Checkout,
Portal, webhooks) and ``wiring`` (``Services.billing``). Nothing is re-exported here."""
