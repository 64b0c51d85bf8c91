# One Cloud Functions (2nd gen) function: its source bundle, runtime settings, network and the
# ingress its trigger needs. Triggers live with their callers (push subscription, scheduler job,
# load balancer), which invoke the function's URL with their own identity.

locals {
  # Public functions are reached only through the load balancer; the rest only from inside the
  # project (Pub/Sub push and Cloud Scheduler count as internal callers).
  ingress = var.trigger == "http" ? "ALLOW_INTERNAL_AND_GCLB" : "ALLOW_INTERNAL_ONLY"
  # The entry point's decorator decides the signature type; this is what the trigger delivers.
  signature_type = var.trigger == "pubsub" ? "cloudevent" : "http"
}

resource "google_cloudfunctions2_function" "this" {
  project     = var.project_id
  location    = var.region
  name        = var.name
  description = "Coditect ${var.name} (${var.trigger})"
  labels      = merge(var.labels, { function = var.name, trigger = var.trigger })

  build_config {
    runtime         = "python311"
    entry_point     = var.entry_point
    service_account = var.build_service_account_id
    environment_variables = {
      GOOGLE_FUNCTION_SIGNATURE_TYPE = local.signature_type
    }
    source {
      storage_source {
        bucket = var.source_bucket
        object = var.source_object
      }
    }
  }

  service_config {
    service_account_email            = var.service_account_email
    available_memory                 = var.resources.memory
    available_cpu                    = var.resources.cpu
    timeout_seconds                  = var.resources.timeout
    max_instance_request_concurrency = var.resources.concurrency
    min_instance_count               = var.resources.min_instances
    max_instance_count               = var.resources.max_instances
    ingress_settings                 = local.ingress
    all_traffic_on_latest_revision   = true
    environment_variables            = var.environment

    direct_vpc_network_interface {
      network    = var.network.network
      subnetwork = var.network.subnetwork
      tags       = [var.network.tag]
    }
    # Google APIs, Stripe and GitHub go straight out; FoundationDB and the GKE control plane
    # (private ranges) go through the VPC.
    direct_vpc_egress = "VPC_EGRESS_PRIVATE_RANGES_ONLY"

    # Files, not environment variables: the FoundationDB cluster file and the kubeconfig are read
    # as files, and the secrets port reads API secrets itself (it needs the newest two versions of
    # the signing key, which an environment variable cannot carry).
    dynamic "secret_volumes" {
      for_each = var.secret_files
      content {
        mount_path = secret_volumes.key
        project_id = var.project_id
        secret     = secret_volumes.value.secret
        versions {
          path    = secret_volumes.value.file
          version = "latest"
        }
      }
    }
  }
}
