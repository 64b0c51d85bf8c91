# Images: the workspace sidecar (tagged by commit in cloudbuild.yaml) and the IDE image.
resource "google_artifact_registry_repository" "images" {
  project       = var.project_id
  location      = var.region
  repository_id = "coditect"
  description   = "Coditect images (sidecar, IDE)"
  format        = "DOCKER"
  kms_key_name  = google_kms_crypto_key.data.id
  labels        = local.labels

  docker_config {
    immutable_tags = true
  }

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 30
    }
  }

  depends_on = [google_kms_crypto_key_iam_member.service_agents]
}

# FoundationDB backups (the operator's backup agents write here).
resource "google_storage_bucket" "fdb_backups" {
  project                     = var.project_id
  name                        = "${var.project_id}-fdb-backups"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = local.labels

  versioning {
    enabled = true
  }

  encryption {
    default_kms_key_name = google_kms_crypto_key.data.id
  }

  logging {
    log_bucket = google_storage_bucket.access_logs.name
  }

  lifecycle_rule {
    condition {
      age = 35
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_kms_crypto_key_iam_member.service_agents]
}

resource "google_storage_bucket" "access_logs" {
  #checkov:skip=CKV_GCP_62:This is the access-log bucket itself; logging it to itself would loop.
  project                     = var.project_id
  name                        = "${var.project_id}-access-logs"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = local.labels

  versioning {
    enabled = true
  }

  encryption {
    default_kms_key_name = google_kms_crypto_key.data.id
  }

  lifecycle_rule {
    condition {
      age = 90
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_kms_crypto_key_iam_member.service_agents]
}

# The backup agents' identity (Workload Identity: Kubernetes SA fdb/fdb-backup) and the HMAC key
# they use for the S3-compatible GCS endpoint. The HMAC secret is created by the operator with
# gcloud (docs/deploy.md), never by Terraform, so it never lands in state.
resource "google_service_account" "fdb_backup" {
  project      = var.project_id
  account_id   = "fdb-backup"
  display_name = "FoundationDB backup agents"
}

resource "google_storage_bucket_iam_member" "fdb_backup" {
  bucket = google_storage_bucket.fdb_backups.name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.fdb_backup.email}"
}
