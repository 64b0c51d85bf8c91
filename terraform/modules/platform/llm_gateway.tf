# The LLM gateway (shared/llm/gateway.py, `python -m shared.llm`): an aiohttp service on Cloud Run,
# not a function, because each LLM stream holds its handler for its whole length (README: LLM
# gateway). Built from the same `shared` package (shared/llm/Dockerfile, cloudbuild.yaml). The
# load balancer sends /api/llm/v1/* to it (modules/edge); /api/llm/usage is the `llm` function.

locals {
  # One secret per provider (shared/secret_names.py LLM_PROVIDER_KEYS): the gateway reads exactly
  # these. The key derivation secret is not among them: the gateway checks a key's SHA-256 in the
  # store; the workspaces and provisioner functions, which issue and re-derive keys, read it.
  llm_provider_secrets = toset([
    "llm-openai-api-key",
    "llm-anthropic-api-key",
    "llm-gemini-api-key",
    "llm-mistral-api-key",
    "llm-groq-api-key",
    "llm-deepseek-api-key",
    "llm-xai-api-key",
    "llm-openrouter-api-key",
  ])
}

resource "google_service_account" "llm_gateway" {
  project      = var.project_id
  account_id   = "llm-gateway"
  display_name = "Coditect LLM gateway"
}

resource "google_secret_manager_secret_iam_member" "llm_gateway_secrets" {
  for_each  = local.llm_provider_secrets
  project   = var.project_id
  secret_id = google_secret_manager_secret.app[each.value].secret_id
  role      = google_project_iam_custom_role.secret_reader.id
  member    = "serviceAccount:${google_service_account.llm_gateway.email}"
}

resource "google_secret_manager_secret_iam_member" "llm_gateway_fdb" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.platform["fdb-cluster-file"].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.llm_gateway.email}"
}

resource "google_project_iam_member" "llm_gateway_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.llm_gateway.email}"
}

resource "google_cloud_run_v2_service" "llm_gateway" {
  project             = var.project_id
  location            = var.region
  name                = "llm-gateway"
  description         = "Coditect LLM gateway: OpenAI-compatible, metered, at /api/llm/v1"
  ingress             = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
  deletion_protection = false
  labels              = merge(local.labels, { service = "llm-gateway" })

  template {
    service_account = google_service_account.llm_gateway.email
    # One process serves many open streams on its event loop (200 measured, bench/llm_bench.py).
    max_instance_request_concurrency = 250
    # An LLM answer can stream for minutes; the gateway ends silent streams itself.
    timeout = "900s"

    scaling {
      min_instance_count = var.min_instances_public
      max_instance_count = 20
    }

    containers {
      image = var.llm_gateway_image
      ports {
        container_port = 8080
      }
      resources {
        limits   = { cpu = "1", memory = "512Mi" }
        cpu_idle = false # streams are relayed between requests' first and last bytes
      }
      dynamic "env" {
        for_each = merge(local.common_env, { K_SERVICE = "llm-gateway" })
        content {
          name  = env.key
          value = env.value
        }
      }
      volume_mounts {
        name       = "fdb"
        mount_path = local.fdb_mount_path
      }
      startup_probe {
        tcp_socket {
          port = 8080
        }
      }
    }

    volumes {
      name = "fdb"
      secret {
        secret = google_secret_manager_secret.platform["fdb-cluster-file"].secret_id
        items {
          path    = "fdb.cluster"
          version = "latest"
        }
      }
    }

    # FoundationDB is on private addresses, reached as the functions reach it.
    vpc_access {
      network_interfaces {
        network    = google_compute_network.vpc.id
        subnetwork = google_compute_subnetwork.functions.id
        tags       = ["coditect-function"]
      }
      egress = "PRIVATE_RANGES_ONLY"
    }
  }

  depends_on = [
    google_project_service.apis,
    google_secret_manager_secret_iam_member.llm_gateway_fdb,
    google_secret_manager_secret_iam_member.llm_gateway_secrets,
  ]
}

# The load balancer calls it as an anonymous user: the gateway checks workspace keys itself, and
# ingress admits only the load balancer.
resource "google_cloud_run_v2_service_iam_member" "llm_gateway_public" {
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.llm_gateway.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
