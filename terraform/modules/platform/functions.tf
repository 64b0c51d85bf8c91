# Every entry point in functions/ is declared here, once, with its trigger. tests/infra checks this
# map against functions/*/main.py (decorator => trigger) and shared/secret_names.py.

locals {
  fdb_mount_path  = "/coditect/fdb"
  kube_mount_path = "/coditect/kube"

  common_env = {
    CODITECT_SECRETS      = "gcp"
    CODITECT_EVENTS       = "pubsub"
    GOOGLE_CLOUD_PROJECT  = var.project_id
    CODITECT_PUBLIC_URL   = "https://${var.domain}"
    CODITECT_API_AUDIENCE = "coditect-api"
    FDB_CLUSTER_FILE      = "${local.fdb_mount_path}/fdb.cluster"
    LOG_LEVEL             = var.environment == "prod" ? "INFO" : "DEBUG"
    # The external Application Load Balancer (modules/edge) appends "<client>, <itself>" to
    # X-Forwarded-For: the login throttle counts by the entry two from the right.
    CODITECT_FORWARDED_FOR_POSITION = "2"
  }

  # Read by shared/workspaces/config.py: hosts under <workspace_domain> (a site apart from the
  # app's), served by the in-cluster ingress-nginx behind the load balancer (modules/cluster),
  # our sidecar image. The sidecar's APP_ORIGIN and JWKS_URL come from CODITECT_PUBLIC_URL.
  workspace_env = {
    WORKSPACE_DOMAIN            = var.workspace_domain
    WORKSPACE_URL_SCHEME        = "https"
    WORKSPACE_INGRESS_CLASS     = "nginx"
    WORKSPACE_INGRESS_NAMESPACE = "ingress-nginx"
    WORKSPACE_STORAGE_CLASS     = "standard-rwo"
    WORKSPACE_SIDECAR_IMAGE     = var.sidecar_image
    WORKSPACE_THEIA_IMAGE       = var.theia_image
  }

  # Read by shared/billing/settings.py in every function that talks to Stripe: a paid sign-up
  # (auth), checkout (billing) and webhooks mapping a price back to its plan (stripe_webhook).
  billing_env = { for plan, ids in var.stripe_prices : "CODITECT_STRIPE_PRICE_${upper(plan)}" => ids }

  # Read by shared/mail.py in the auth function, which mails the email-verification links over
  # SMTP with STARTTLS; the password is the smtp-password secret.
  mail_env = {
    CODITECT_MAIL      = "smtp"
    CODITECT_SMTP_HOST = var.mail.smtp_host
    CODITECT_SMTP_PORT = tostring(var.mail.smtp_port)
    CODITECT_SMTP_USER = var.mail.smtp_user
    CODITECT_MAIL_FROM = var.mail.from
  }

  functions = {
    auth = {
      entry_point = "auth"
      trigger     = "http"
      paths       = ["/api/auth/*", "/.well-known/jwks.json", "/api/openapi.json"]
      # A paid sign-up creates the Stripe customer and subscription (shared/api/auth.py); sign-up
      # and resend mail the email-verification link (shared/mail.py); linking a Google/GitHub
      # account starts their flow (client ids); deleting an account cancels its subscription and
      # publishes a reconcile for each of its workspaces.
      secrets   = ["jwt-signing-key", "stripe-api-key", "smtp-password", "google-oauth-client-id", "google-oauth-client-secret", "github-oauth-client-id", "github-oauth-client-secret"]
      publishes = true
      # Argon2 hashing is memory-hard: fewer concurrent requests per instance, more memory.
      resources = { memory = "1Gi", cpu = "1", timeout = 30, concurrency = 8, min_instances = var.min_instances_public, max_instances = 50 }
      env       = merge(local.billing_env, local.mail_env, local.workspace_env)
    }
    oauth = {
      entry_point = "oauth"
      trigger     = "http"
      paths       = ["/api/auth/oauth/*"]
      # A take-back (a provider proves an unverified account's email) stops the account's
      # workspaces (reconcile messages) and mails the owner.
      secrets   = ["jwt-signing-key", "google-oauth-client-id", "google-oauth-client-secret", "github-oauth-client-id", "github-oauth-client-secret", "smtp-password"]
      publishes = true
      resources = { memory = "512Mi", cpu = "1", timeout = 30, concurrency = 40, min_instances = 0, max_instances = 20 }
      env       = merge({ CODITECT_OAUTH_APP_URL = "https://${var.domain}/" }, local.mail_env, local.workspace_env)
    }
    workspaces = {
      entry_point = "workspaces"
      trigger     = "http"
      paths       = ["/api/workspaces", "/api/workspaces/*"]
      # A workspace's LLM key is issued with it (shared/llm/keys.py).
      secrets   = ["jwt-signing-key", "llm-key-derivation-secret"]
      publishes = true
      resources = { memory = "512Mi", cpu = "1", timeout = 30, concurrency = 40, min_instances = var.min_instances_public, max_instances = 50 }
      env       = local.workspace_env
    }
    billing = {
      entry_point = "billing"
      trigger     = "http"
      paths       = ["/api/billing/*", "/api/plans"]
      secrets     = ["jwt-signing-key", "stripe-api-key"]
      publishes   = false
      resources   = { memory = "512Mi", cpu = "1", timeout = 30, concurrency = 40, min_instances = 0, max_instances = 20 }
      env         = local.billing_env
    }
    stripe_webhook = {
      entry_point = "stripe_webhook"
      trigger     = "http"
      paths       = ["/webhooks/stripe"]
      secrets     = ["stripe-api-key", "stripe-webhook-secret"]
      publishes   = true
      resources   = { memory = "512Mi", cpu = "1", timeout = 60, concurrency = 20, min_instances = 0, max_instances = 20 }
      env         = local.billing_env
    }
    # GET /api/llm/usage; the OpenAI-compatible /api/llm/v1/* is the gateway (llm_gateway.tf).
    llm = {
      entry_point = "llm"
      trigger     = "http"
      paths       = ["/api/llm/usage"]
      secrets     = ["jwt-signing-key"]
      publishes   = false
      resources   = { memory = "512Mi", cpu = "1", timeout = 30, concurrency = 40, min_instances = 0, max_instances = 20 }
      env         = {}
    }
    provisioner = {
      entry_point = "provisioner"
      trigger     = "pubsub"
      topic       = "workspace-reconcile"
      paths       = []
      # Re-derives each workspace's LLM key for Theia's settings Secret.
      secrets = ["llm-key-derivation-secret"]
      # It only consumes workspace-reconcile: redelivery is Pub/Sub's (a failed push is retried).
      publishes = false
      # One reconcile at a time per instance keeps each convergence simple. The provisioner
      # waits at most PROVISIONER_BUDGET_SECONDS, inside the timeout, inside the ack deadline.
      resources = { memory = "512Mi", cpu = "1", timeout = 540, concurrency = 1, min_instances = 0, max_instances = 30 }
      env = merge(local.workspace_env, {
        KUBECONFIG                 = "${local.kube_mount_path}/config"
        PROVISIONER_BUDGET_SECONDS = "480"
        PROVISIONER_MAX_ATTEMPTS   = tostring(var.workspace_reconcile.max_delivery_attempts)
      })
    }
    idle_cleanup = {
      entry_point = "idle_cleanup"
      trigger     = "scheduler"
      schedule    = var.idle_cleanup_schedule
      paths       = []
      secrets     = []
      publishes   = true
      resources   = { memory = "512Mi", cpu = "1", timeout = 300, concurrency = 1, min_instances = 0, max_instances = 1 }
      # The function checks the scheduler's OIDC token against these (shared/workspaces/config.py).
      env = merge(local.workspace_env, {
        IDLE_CLEANUP_AUDIENCE = "https://idle-cleanup-${local.project_number}.${var.region}.run.app"
        IDLE_CLEANUP_INVOKER  = "invoke-idle-cleanup@${var.project_id}.iam.gserviceaccount.com"
      })
    }
  }

  # Cloud Run's deterministic URL (https://<service>-<project number>.<region>.run.app): known
  # before the function exists, so a function can be told the audience its callers will use.
  deterministic_url = {
    for name, fn in local.functions : name => "https://${replace(name, "_", "-")}-${local.project_number}.${var.region}.run.app"
  }

  http_functions = { for name, fn in local.functions : name => fn if fn.trigger == "http" }

  # Files each function mounts: every one reads FoundationDB; the provisioner also its kubeconfig.
  secret_files = {
    for name, fn in local.functions : name => merge(
      { (local.fdb_mount_path) = { secret = google_secret_manager_secret.platform["fdb-cluster-file"].secret_id, file = "fdb.cluster" } },
      name == "provisioner" ? { (local.kube_mount_path) = { secret = google_secret_manager_secret.platform["gke-kubeconfig"].secret_id, file = "config" } } : {},
    )
  }
}

# One identity per function; each is granted only what its function does (below).
resource "google_service_account" "function" {
  for_each     = local.functions
  project      = var.project_id
  account_id   = "fn-${replace(each.key, "_", "-")}"
  display_name = "Coditect function ${each.key}"
}

# Builds the functions' sources (Cloud Build as this identity, not the default compute one).
resource "google_service_account" "function_build" {
  project      = var.project_id
  account_id   = "fn-build"
  display_name = "Coditect function builds"
}

resource "google_project_iam_member" "function_build" {
  for_each = toset(["roles/logging.logWriter", "roles/artifactregistry.writer"])
  project  = var.project_id
  role     = each.value
  member   = "serviceAccount:${google_service_account.function_build.email}"
}

resource "google_storage_bucket_iam_member" "function_build_sources" {
  bucket = var.source_bucket
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.function_build.email}"
}

module "function" {
  source   = "../function"
  for_each = local.functions

  project_id               = var.project_id
  region                   = var.region
  name                     = replace(each.key, "_", "-")
  entry_point              = each.value.entry_point
  trigger                  = each.value.trigger
  source_bucket            = var.source_bucket
  source_object            = var.function_sources[each.key]
  service_account_email    = google_service_account.function[each.key].email
  build_service_account_id = google_service_account.function_build.id
  resources                = each.value.resources
  environment              = merge(local.common_env, each.value.env, lookup(var.function_env, each.key, {}))
  secret_files             = local.secret_files[each.key]
  labels                   = local.labels
  network = {
    network    = google_compute_network.vpc.id
    subnetwork = google_compute_subnetwork.functions.id
    tag        = "coditect-function"
  }

  depends_on = [
    google_project_service.apis,
    google_secret_manager_secret_iam_member.function_files,
    google_project_iam_member.function_build,
    google_storage_bucket_iam_member.function_build_sources,
  ]
}

# The load balancer calls public functions as an anonymous user: each one authenticates its
# callers itself (bearer tokens, Stripe signatures), and ingress admits only the load balancer.
resource "google_cloud_run_v2_service_iam_member" "public" {
  for_each = local.http_functions
  project  = var.project_id
  location = var.region
  name     = module.function[each.key].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# Pub/Sub and Cloud Scheduler call the internal functions with OIDC tokens of these identities.
resource "google_service_account" "invoker" {
  for_each     = { for name, fn in local.functions : name => fn if fn.trigger != "http" }
  project      = var.project_id
  account_id   = "invoke-${replace(each.key, "_", "-")}"
  display_name = "Invokes Coditect ${each.key} (${each.value.trigger})"
}

resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = google_service_account.invoker
  project  = var.project_id
  location = var.region
  name     = module.function[each.key].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${each.value.email}"
}

# Pub/Sub mints the push subscription's OIDC token as the invoker identity.
resource "google_service_account_iam_member" "pubsub_token_creator" {
  for_each           = { for name, fn in local.functions : name => fn if fn.trigger == "pubsub" }
  service_account_id = google_service_account.invoker[each.key].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

resource "google_cloud_scheduler_job" "function" {
  for_each         = { for name, fn in local.functions : name => fn if fn.trigger == "scheduler" }
  project          = var.project_id
  region           = var.region
  name             = replace(each.key, "_", "-")
  description      = "Calls ${each.key} on a timer"
  schedule         = each.value.schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "320s"

  retry_config {
    retry_count          = 1
    min_backoff_duration = "10s"
  }

  http_target {
    http_method = "POST"
    uri         = local.deterministic_url[each.key]
    headers     = { "Content-Type" = "application/json" }
    body        = base64encode("{}")
    oidc_token {
      service_account_email = google_service_account.invoker[each.key].email
      audience              = local.deterministic_url[each.key]
    }
  }

  depends_on = [google_project_service.apis, module.function]
}
