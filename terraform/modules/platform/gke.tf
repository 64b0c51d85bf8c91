# A private, VPC-native GKE cluster: no public node IPs, a private control-plane endpoint that the
# VPC (nodes and the functions' egress subnet) reaches, plus the IAM-authenticated DNS endpoint
# that Terraform and Cloud Build use. Workload Identity, Dataplane V2 (NetworkPolicy enforced by
# eBPF), Shielded nodes, secrets encrypted with the platform's KMS key.

resource "google_service_account" "nodes" {
  project      = var.project_id
  account_id   = "gke-nodes"
  display_name = "Coditect GKE nodes"
}

resource "google_project_iam_member" "nodes" {
  for_each = toset([
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/artifactregistry.reader",
  ])
  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.nodes.email}"
}

resource "google_container_cluster" "this" {
  #checkov:skip=CKV_GCP_12:Dataplane V2 (ADVANCED_DATAPATH) enforces NetworkPolicy itself; the legacy Calico network_policy addon must stay off with it.
  #checkov:skip=CKV_GCP_65:Only service accounts get RBAC (the provisioner, by email); people use IAM roles, and no Google Workspace group domain is assumed.
  provider = google-beta
  project  = var.project_id
  name     = "coditect-${var.environment}"
  location = var.region

  network         = google_compute_network.vpc.id
  subnetwork      = google_compute_subnetwork.nodes.id
  networking_mode = "VPC_NATIVE"
  ip_allocation_policy {
    cluster_secondary_range_name  = "pods"
    services_secondary_range_name = "services"
  }

  # Dataplane V2 enforces NetworkPolicy (workspace namespaces are isolated from each other).
  datapath_provider = "ADVANCED_DATAPATH"

  private_cluster_config {
    enable_private_nodes    = true
    enable_private_endpoint = true
    master_ipv4_cidr_block  = var.network_cidrs.master
    master_global_access_config {
      enabled = false
    }
  }

  control_plane_endpoints_config {
    dns_endpoint_config {
      allow_external_traffic = true
    }
  }

  master_authorized_networks_config {
    cidr_blocks {
      cidr_block   = var.network_cidrs.nodes
      display_name = "nodes"
    }
    cidr_blocks {
      cidr_block   = var.network_cidrs.functions
      display_name = "functions (provisioner)"
    }
  }

  workload_identity_config {
    workload_pool = "${var.project_id}.svc.id.goog"
  }

  database_encryption {
    state    = "ENCRYPTED"
    key_name = google_kms_crypto_key.data.id
  }

  release_channel {
    channel = "REGULAR"
  }

  enable_shielded_nodes       = true
  enable_intranode_visibility = true
  enable_legacy_abac          = false
  deletion_protection         = var.environment == "prod"

  master_auth {
    client_certificate_config {
      issue_client_certificate = false
    }
  }

  binary_authorization {
    evaluation_mode = "PROJECT_SINGLETON_POLICY_ENFORCE"
  }

  resource_labels = local.labels

  logging_config {
    enable_components = ["SYSTEM_COMPONENTS", "WORKLOADS"]
  }

  monitoring_config {
    enable_components = ["SYSTEM_COMPONENTS"]
    managed_prometheus {
      enabled = true
    }
  }

  # Node pools are managed below.
  remove_default_node_pool = true
  initial_node_count       = 1
  node_config {
    service_account = google_service_account.nodes.email
    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
  }

  depends_on = [google_project_service.apis, google_kms_crypto_key_iam_member.service_agents]
}

locals {
  node_config = {
    oauth_scopes = ["https://www.googleapis.com/auth/cloud-platform"]
    tags         = ["coditect-gke-node"]
  }
}

# System pool: FoundationDB, the operator, the ingress controller.
resource "google_container_node_pool" "system" {
  provider   = google-beta
  project    = var.project_id
  name       = "system"
  location   = var.region
  cluster    = google_container_cluster.this.name
  node_count = var.system_nodes.count

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = var.system_nodes.machine_type
    image_type      = "COS_CONTAINERD"
    service_account = google_service_account.nodes.email
    oauth_scopes    = local.node_config.oauth_scopes
    tags            = local.node_config.tags
    labels          = { "coditect.dev/pool" = "system" }
    metadata = {
      disable-legacy-endpoints = "true"
    }
    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
  }
}

# Workspace pool: users' IDE pods, which run the users' own code. Tainted, so nothing else lands
# there (no platform workload tolerates the taint; the workspace pod does and selects the pool's
# label, shared/provisioner/pod.py); GKE Sandbox, so each pod runs on gVisor's user-space
# kernel (runtimeClassName gvisor) instead of the node's; a per-pod process limit, so a fork
# bomb stays inside its pod. Autoscaled.
resource "google_container_node_pool" "workspaces" {
  provider = google-beta
  project  = var.project_id
  name     = "workspaces"
  location = var.region
  cluster  = google_container_cluster.this.name

  autoscaling {
    total_min_node_count = var.workspace_nodes.min_count
    total_max_node_count = var.workspace_nodes.max_count
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = var.workspace_nodes.machine_type
    disk_size_gb    = var.workspace_nodes.disk_size_gb
    image_type      = "COS_CONTAINERD"
    service_account = google_service_account.nodes.email
    oauth_scopes    = local.node_config.oauth_scopes
    tags            = local.node_config.tags
    labels          = { "coditect.dev/pool" = "workspaces" }
    taint {
      key    = "coditect.dev/workspaces"
      value  = "true"
      effect = "NO_SCHEDULE"
    }
    sandbox_config {
      sandbox_type = "gvisor"
    }
    kubelet_config {
      pod_pids_limit = var.workspace_nodes.pod_pids_limit
    }
    metadata = {
      disable-legacy-endpoints = "true"
    }
    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
  }
}

# The provisioner's identity on the cluster: Google IAM lets it authenticate to the cluster and
# nothing more (clusterViewer = container.clusters.get); what it may do inside is Kubernetes RBAC,
# bound to this service account's email in modules/cluster.
resource "google_project_iam_member" "provisioner_cluster" {
  project = var.project_id
  role    = "roles/container.clusterViewer"
  member  = "serviceAccount:${google_service_account.function["provisioner"].email}"
}
