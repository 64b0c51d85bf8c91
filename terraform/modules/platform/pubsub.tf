# workspace-reconcile: the workspaces API, idle cleanup and billing publish "reconcile W"; a push
# subscription delivers to the provisioner with exponential backoff, and after
# max_delivery_attempts the message moves to the dead-letter topic, where an alert watches it.
#
# The push subscription is ours, not an Eventarc trigger's: an Eventarc-managed subscription
# cannot carry a dead-letter policy in Terraform.

locals {
  pubsub_functions = { for name, fn in local.functions : name => fn if fn.trigger == "pubsub" }
  topics           = toset(distinct([for fn in values(local.pubsub_functions) : fn.topic]))
}

resource "google_kms_key_ring" "this" {
  project  = var.project_id
  name     = "coditect-${var.environment}"
  location = var.region

  depends_on = [google_project_service.apis]
}

# One key for the platform's data at rest (topics, buckets, GKE secrets, images).
resource "google_kms_crypto_key" "data" {
  name            = "data"
  key_ring        = google_kms_key_ring.this.id
  rotation_period = "7776000s"

  lifecycle {
    prevent_destroy = true
  }
}

resource "google_kms_crypto_key_iam_member" "service_agents" {
  for_each = toset([
    local.pubsub_agent,
    "serviceAccount:service-${local.project_number}@gs-project-accounts.iam.gserviceaccount.com",
    "serviceAccount:service-${local.project_number}@container-engine-robot.iam.gserviceaccount.com",
    "serviceAccount:service-${local.project_number}@gcp-sa-artifactregistry.iam.gserviceaccount.com",
  ])
  crypto_key_id = google_kms_crypto_key.data.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = each.value
}

resource "google_pubsub_topic" "events" {
  for_each                   = local.topics
  project                    = var.project_id
  name                       = each.value
  labels                     = local.labels
  kms_key_name               = google_kms_crypto_key.data.id
  message_retention_duration = "86400s"

  depends_on = [google_kms_crypto_key_iam_member.service_agents]
}

resource "google_pubsub_topic" "dead_letter" {
  for_each                   = local.topics
  project                    = var.project_id
  name                       = "${each.value}-dead-letter"
  labels                     = local.labels
  kms_key_name               = google_kms_crypto_key.data.id
  message_retention_duration = "604800s"

  depends_on = [google_kms_crypto_key_iam_member.service_agents]
}

resource "google_pubsub_subscription" "push" {
  for_each = local.pubsub_functions
  project  = var.project_id
  name     = "${each.value.topic}-${replace(each.key, "_", "-")}"
  topic    = google_pubsub_topic.events[each.value.topic].id
  labels   = local.labels

  ack_deadline_seconds       = var.workspace_reconcile.ack_deadline_seconds
  message_retention_duration = "86400s"
  expiration_policy {
    ttl = ""
  }

  push_config {
    push_endpoint = module.function[each.key].uri
    oidc_token {
      service_account_email = google_service_account.invoker[each.key].email
      audience              = module.function[each.key].uri
    }
  }

  retry_policy {
    minimum_backoff = var.workspace_reconcile.min_backoff
    maximum_backoff = var.workspace_reconcile.max_backoff
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[each.value.topic].id
    max_delivery_attempts = var.workspace_reconcile.max_delivery_attempts
  }

  depends_on = [google_pubsub_topic_iam_member.dead_letter_publisher]
}

# Dead letters are kept (7 days) for inspection and replay; the backlog alert reads this.
resource "google_pubsub_subscription" "dead_letter" {
  for_each                   = local.topics
  project                    = var.project_id
  name                       = "${each.value}-dead-letter-hold"
  topic                      = google_pubsub_topic.dead_letter[each.value].id
  labels                     = local.labels
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  expiration_policy {
    ttl = ""
  }
}

# The Pub/Sub service agent forwards undeliverable messages: it publishes to the dead-letter topic
# and acknowledges on the source subscription.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = local.topics
  project  = var.project_id
  topic    = google_pubsub_topic.dead_letter[each.value].name
  role     = "roles/pubsub.publisher"
  member   = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each     = local.pubsub_functions
  project      = var.project_id
  subscription = google_pubsub_subscription.push[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

# Publishers of workspace-reconcile: only the functions that change a workspace's desired state.
resource "google_pubsub_topic_iam_member" "publishers" {
  for_each = { for name, fn in local.functions : name => fn if fn.publishes }
  project  = var.project_id
  topic    = google_pubsub_topic.events["workspace-reconcile"].name
  role     = "roles/pubsub.publisher"
  member   = "serviceAccount:${google_service_account.function[each.key].email}"
}
