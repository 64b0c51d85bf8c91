# Production. Values for terraform/root; replace the placeholders once per project (docs/deploy.md, step 1).
environment = "prod"
project_id  = "coditect-prod"
region      = "europe-west1"
zones       = ["europe-west1-b", "europe-west1-c", "europe-west1-d"]
domain      = "app.coditect.dev"
# Workspace hosts: a registrable domain apart from the app's (docs/deploy.md, "Workspace hosts
# on a site of their own"); its own DNS zone holds *.<workspace_domain> and its authorization.
workspace_domain     = "coditect-workspaces.dev"
source_bucket        = "coditect-prod-function-sources"
alert_email          = "oncall@coditect.dev"
billing_account      = "000000-000000-000000"
monthly_budget_units = 5000
min_instances_public = 1
fdb_version          = "8.0.0"

workspace_nodes = {
  machine_type = "e2-standard-8"
  min_count    = 2
  max_count    = 50
}

# Stripe price ids of the paid plans (Dashboard > Product catalog), newest first.
stripe_prices = {
  starter = "price_set_me_starter"
  pro     = "price_set_me_pro"
}

# The SMTP submission server the verification mails go through (any provider with STARTTLS on
# 587); its password goes into the smtp-password secret (docs/deploy.md, step 4).
mail = {
  smtp_host = "smtp.set-me.example"
  smtp_port = 587
  smtp_user = "set-me"
  from      = "Coditect <no-reply@app.coditect.dev>"
}
