# Secret Manager: the secrets the code reads (shared/secret_names.py) are declared here with no
# version. Their values never pass through Terraform, so they are never in its state: operators
# add versions with `gcloud secrets versions add` (docs/deploy.md).

locals {
  app_secrets = toset([
    "jwt-signing-key",
    "stripe-api-key",
    "stripe-webhook-secret",
    "google-oauth-client-id",
    "google-oauth-client-secret",
    "github-oauth-client-id",
    "github-oauth-client-secret",
    "smtp-password",
    "llm-openai-api-key",
    "llm-anthropic-api-key",
    "llm-gemini-api-key",
    "llm-mistral-api-key",
    "llm-groq-api-key",
    "llm-deepseek-api-key",
    "llm-xai-api-key",
    "llm-openrouter-api-key",
    "llm-key-derivation-secret",
  ])

  # Files the functions mount. Neither holds a credential: the cluster file names the FoundationDB
  # coordinators, the kubeconfig names the GKE endpoint and CA (the token comes from the function's
  # own identity). Secret Manager is simply how Cloud Functions mounts a file.
  file_secrets = toset(["fdb-cluster-file", "gke-kubeconfig"])

  # Which function reads which secret through the secrets port.
  secret_readers = merge([
    for name, fn in local.functions : { for s in fn.secrets : "${name}/${s}" => { function = name, secret = s } }
  ]...)

  # Which function mounts which file.
  file_readers = merge([
    for name, files in local.secret_files : { for f in values(files) : "${name}/${f.secret}" => { function = name, secret = f.secret } }
  ]...)
}

resource "google_secret_manager_secret" "app" {
  for_each  = local.app_secrets
  project   = var.project_id
  secret_id = each.value
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret" "platform" {
  for_each  = local.file_secrets
  project   = var.project_id
  secret_id = each.value
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

# The kubeconfig the provisioner reads (KUBECONFIG): the private endpoint it reaches over Direct
# VPC egress and the cluster CA; the `gcp` auth provider makes the kubernetes client fetch a token
# for the function's own service account from google-auth (the metadata server).
resource "google_secret_manager_secret_version" "kubeconfig" {
  secret = google_secret_manager_secret.platform["gke-kubeconfig"].id
  secret_data = yamlencode({
    apiVersion        = "v1"
    kind              = "Config"
    "current-context" = "coditect"
    clusters = [{
      name = "coditect"
      cluster = {
        server                       = "https://${google_container_cluster.this.private_cluster_config[0].private_endpoint}"
        "certificate-authority-data" = google_container_cluster.this.master_auth[0].cluster_ca_certificate
      }
    }]
    users    = [{ name = "provisioner", user = { "auth-provider" = { name = "gcp" } } }]
    contexts = [{ name = "coditect", context = { cluster = "coditect", user = "provisioner" } }]
  })
}

# The secrets port lists versions (newest two of the signing key) and reads them: exactly these
# permissions, granted per secret to the functions that read it.
resource "google_project_iam_custom_role" "secret_reader" {
  project     = var.project_id
  role_id     = "coditectSecretReader"
  title       = "Coditect secret reader"
  description = "List and read the enabled versions of a secret (the secrets port)."
  permissions = [
    "secretmanager.versions.access",
    "secretmanager.versions.get",
    "secretmanager.versions.list",
  ]
}

resource "google_secret_manager_secret_iam_member" "function_secrets" {
  for_each  = local.secret_readers
  project   = var.project_id
  secret_id = google_secret_manager_secret.app[each.value.secret].secret_id
  role      = google_project_iam_custom_role.secret_reader.id
  member    = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_secret_manager_secret_iam_member" "function_files" {
  for_each  = local.file_readers
  project   = var.project_id
  secret_id = each.value.secret
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function[each.value.function].email}"

  depends_on = [google_secret_manager_secret.platform]
}
