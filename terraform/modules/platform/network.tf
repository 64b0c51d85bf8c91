# One VPC: GKE nodes (with pod/service secondary ranges: VPC-native), a subnet for the functions'
# Direct VPC egress, Cloud NAT for the private nodes, and firewall rules that open only what the
# platform needs.

resource "google_compute_network" "vpc" {
  project                 = var.project_id
  name                    = "coditect-${var.environment}"
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"

  depends_on = [google_project_service.apis]
}

resource "google_compute_subnetwork" "nodes" {
  project                  = var.project_id
  name                     = "gke-nodes"
  region                   = var.region
  network                  = google_compute_network.vpc.id
  ip_cidr_range            = var.network_cidrs.nodes
  private_ip_google_access = true

  secondary_ip_range {
    range_name    = "pods"
    ip_cidr_range = var.network_cidrs.pods
  }
  secondary_ip_range {
    range_name    = "services"
    ip_cidr_range = var.network_cidrs.services
  }

  log_config {
    aggregation_interval = "INTERVAL_5_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_subnetwork" "functions" {
  project                  = var.project_id
  name                     = "functions-egress"
  region                   = var.region
  network                  = google_compute_network.vpc.id
  ip_cidr_range            = var.network_cidrs.functions
  private_ip_google_access = true

  log_config {
    aggregation_interval = "INTERVAL_5_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_router" "nat" {
  project = var.project_id
  name    = "coditect-nat"
  region  = var.region
  network = google_compute_network.vpc.id
}

# Reserved, not automatic, NAT addresses: every workspace's outbound traffic (the sidecars'
# heartbeats and JWKS fetches to the load balancer included) leaves through them, and the load
# balancer's Cloud Armor policy must know them (modules/edge) so that all workspaces do not share
# one per-address rate limit.
resource "google_compute_address" "nat" {
  count   = var.nat_address_count
  project = var.project_id
  name    = "coditect-nat-${count.index}"
  region  = var.region
}

resource "google_compute_router_nat" "nat" {
  project                            = var.project_id
  name                               = "coditect-nat"
  router                             = google_compute_router.nat.name
  region                             = var.region
  nat_ip_allocate_option             = "MANUAL_ONLY"
  nat_ips                            = google_compute_address.nat[*].self_link
  source_subnetwork_ip_ranges_to_nat = "LIST_OF_SUBNETWORKS"
  subnetwork {
    name                    = google_compute_subnetwork.nodes.id
    source_ip_ranges_to_nat = ["ALL_IP_RANGES"]
  }
  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}

# Functions reach FoundationDB (port 4500-4599 on the FDB pods) and nothing else in the cluster.
resource "google_compute_firewall" "functions_to_fdb" {
  project     = var.project_id
  name        = "functions-to-foundationdb"
  network     = google_compute_network.vpc.id
  direction   = "INGRESS"
  source_tags = ["coditect-function"]
  target_tags = ["coditect-gke-node"]
  allow {
    protocol = "tcp"
    ports    = ["4500-4599"]
  }
  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

# The load balancer's proxies and health checks reach the in-cluster ingress (standalone NEG).
resource "google_compute_firewall" "lb_to_ingress" {
  project       = var.project_id
  name          = "lb-to-workspace-ingress"
  network       = google_compute_network.vpc.id
  direction     = "INGRESS"
  source_ranges = ["35.191.0.0/16", "130.211.0.0/22"]
  target_tags   = ["coditect-gke-node"]
  allow {
    protocol = "tcp"
    ports    = ["80"]
  }
  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}
