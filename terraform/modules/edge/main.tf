# One origin: a global external Application Load Balancer. https://<domain>/api/*, /webhooks/*
# and /.well-known/* go to the functions through serverless NEGs (path rules mirror devstack's
# HTTP_FUNCTIONS); everything else on <domain> is the web app, from its bucket through Cloud CDN
# (app.tf). Any host under *.<workspace_domain>, a registrable domain apart from the app's, goes to
# the in-cluster workspace ingress through its standalone NEGs. Certificates are Google-managed
# (Certificate Manager; the wildcard needs DNS authorization).

locals {
  workspace_host = "*.${var.workspace_domain}"
  # Cloud Armor's language: true for a request from one of the workspaces' NAT addresses.
  from_workspaces = join(" || ", [for address in var.workspace_egress : "inIpRange(origin.ip, '${address}/32')"])
  # The sidecar's two calls to the platform (shared/provisioner/objects.py: sidecar_env).
  heartbeat_request = "request.method == 'POST' && request.path.matches('^/api/workspaces/[^/]+/activity$')"
  jwks_request      = "request.method == 'GET' && request.path == '/.well-known/jwks.json'"
}

resource "google_compute_global_address" "edge" {
  project = var.project_id
  name    = "coditect-${var.environment}-edge"
}

resource "google_compute_region_network_endpoint_group" "function" {
  for_each              = var.http_functions
  project               = var.project_id
  name                  = "fn-${replace(each.key, "_", "-")}"
  region                = var.region
  network_endpoint_type = "SERVERLESS"
  cloud_run {
    service = each.value.service
  }
}

# The LLM gateway (a Cloud Run service, not a function): /api/llm/v1/*.
resource "google_compute_region_network_endpoint_group" "llm_gateway" {
  project               = var.project_id
  name                  = "llm-gateway"
  region                = var.region
  network_endpoint_type = "SERVERLESS"
  cloud_run {
    service = var.llm_gateway_service
  }
}

resource "google_compute_security_policy" "edge" {
  project     = var.project_id
  name        = "coditect-${var.environment}-edge"
  description = "Per-client throttling and known-exploit filtering in front of every backend"

  rule {
    action   = "deny(403)"
    priority = 1000
    match {
      expr {
        expression = "evaluatePreconfiguredWaf('cve-canary')"
      }
    }
    description = "Log4j-style lookups (CVE-2021-44228 and relatives)"
  }

  # Every workspace reaches the load balancer from the same few NAT addresses, so the per-address
  # limit below would make all sidecars share 600 requests a minute. Their heartbeats are limited
  # per workspace credential instead (the activity token: 43 random characters, well within the
  # 128 bytes of a header Cloud Armor keys on) ...
  rule {
    action   = "throttle"
    priority = 1500
    match {
      expr {
        expression = "(${local.from_workspaces}) && ${local.heartbeat_request}"
      }
    }
    rate_limit_options {
      conform_action      = "allow"
      exceed_action       = "deny(429)"
      enforce_on_key      = "HTTP_HEADER"
      enforce_on_key_name = "Authorization"
      rate_limit_threshold {
        count        = var.heartbeat_limit_per_minute
        interval_sec = 60
      }
    }
    description = "Sidecar heartbeats from the workspaces' NAT: limited per workspace credential"
  }

  # ... and their JWKS fetches pass without a shared budget: the document is public and static,
  # each sidecar caches it and refetches only on an unknown key id (at most once per interval),
  # and a shared limit would let one workspace's code lock every IDE out of token checks.
  rule {
    action   = "allow"
    priority = 1600
    match {
      expr {
        expression = "(${local.from_workspaces}) && ${local.jwks_request}"
      }
    }
    description = "Sidecar JWKS fetches from the workspaces' NAT: no per-address limit"
  }

  rule {
    action   = "throttle"
    priority = 2000
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
    rate_limit_options {
      conform_action = "allow"
      exceed_action  = "deny(429)"
      enforce_on_key = "IP"
      rate_limit_threshold {
        count        = 600
        interval_sec = 60
      }
    }
    description = "600 requests a minute per client address"
  }

  rule {
    action   = "allow"
    priority = 2147483647
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
    description = "default"
  }
}

resource "google_compute_backend_service" "function" {
  for_each              = var.http_functions
  project               = var.project_id
  name                  = "fn-${replace(each.key, "_", "-")}"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  protocol              = "HTTPS"
  security_policy       = google_compute_security_policy.edge.id

  backend {
    group = google_compute_region_network_endpoint_group.function[each.key].id
  }

  log_config {
    enable      = true
    sample_rate = 1.0
  }
}

resource "google_compute_backend_service" "llm_gateway" {
  project               = var.project_id
  name                  = "llm-gateway"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  protocol              = "HTTPS"
  security_policy       = google_compute_security_policy.edge.id

  backend {
    group = google_compute_region_network_endpoint_group.llm_gateway.id
  }

  # Request and response sizes and latency only: prompts travel in bodies, never logged.
  log_config {
    enable      = true
    sample_rate = 1.0
  }
}

data "google_compute_network_endpoint_group" "workspaces" {
  for_each = toset(var.workspace_neg_zones)
  project  = var.project_id
  name     = var.workspace_neg_name
  zone     = each.value
}

resource "google_compute_health_check" "workspaces" {
  project = var.project_id
  name    = "coditect-${var.environment}-workspace-ingress"
  http_health_check {
    port_specification = "USE_SERVING_PORT"
    request_path       = "/healthz"
  }
  log_config {
    enable = true
  }
}

# A workspace's launch link carries its one-time launch token in the query string
# (/__coditect/launch?token=...), and load balancer logs record the full URL. Those entries are
# dropped before storage; the workspace backend's other requests stay logged. ingress-nginx and
# the sidecar log paths without query strings (modules/cluster, sidecar/app.py).
resource "google_logging_project_exclusion" "launch_tokens" {
  project     = var.project_id
  name        = "coditect-${var.environment}-launch-tokens"
  description = "Load balancer entries of workspace launch links: their query string holds a one-time token"
  filter      = "resource.type=\"http_load_balancer\" AND resource.labels.backend_service_name=\"${google_compute_backend_service.workspaces.name}\" AND (httpRequest.requestUrl:\"/__coditect/launch\" OR httpRequest.requestUrl=~\"[?&]token=\")"
}

resource "google_compute_backend_service" "workspaces" {
  project               = var.project_id
  name                  = "coditect-${var.environment}-workspaces"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  protocol              = "HTTP"
  # IDE WebSockets stay open for a working session.
  timeout_sec     = 3600
  health_checks   = [google_compute_health_check.workspaces.id]
  security_policy = google_compute_security_policy.edge.id

  dynamic "backend" {
    for_each = data.google_compute_network_endpoint_group.workspaces
    content {
      group                 = backend.value.id
      balancing_mode        = "RATE"
      max_rate_per_endpoint = 1000
    }
  }

  log_config {
    enable      = true
    sample_rate = 1.0
  }
}

resource "google_compute_url_map" "edge" {
  project         = var.project_id
  name            = "coditect-${var.environment}"
  default_service = google_compute_backend_service.function[var.default_function].id

  host_rule {
    hosts        = [var.domain]
    path_matcher = "api"
  }

  host_rule {
    hosts        = [local.workspace_host]
    path_matcher = "workspaces"
  }

  # The longest matching path wins, as in devstack's Dispatcher. The API's own prefixes never
  # reach the bucket: a path no function claims gets the default function's JSON 404. The app's
  # client routes are rewritten to /index.html (200); any other path is the bucket's, whose
  # not-found page is index.html too (the app's own "not found", with a 404).
  path_matcher {
    name            = "api"
    default_service = google_compute_backend_bucket.app.id
    dynamic "path_rule" {
      for_each = var.http_functions
      content {
        paths   = path_rule.value.paths
        service = google_compute_backend_service.function[path_rule.key].id
      }
    }
    path_rule {
      paths   = local.api_prefixes
      service = google_compute_backend_service.function[var.default_function].id
    }
    path_rule {
      paths   = local.app_routes
      service = google_compute_backend_bucket.app.id
      route_action {
        url_rewrite {
          path_prefix_rewrite = "/index.html"
        }
      }
    }
    # /api/llm/usage stays with the llm function (above); the OpenAI-compatible API is here.
    path_rule {
      paths   = ["/api/llm/v1/*"]
      service = google_compute_backend_service.llm_gateway.id
    }
  }

  path_matcher {
    name            = "workspaces"
    default_service = google_compute_backend_service.workspaces.id
  }
}

# The wildcard *.<workspace_domain> is proven by a CNAME in the workspace domain's own zone.
resource "google_certificate_manager_dns_authorization" "workspaces" {
  project = var.project_id
  name    = "coditect-${var.environment}-ws"
  domain  = var.workspace_domain
}

resource "google_certificate_manager_certificate" "origin" {
  project = var.project_id
  name    = "coditect-${var.environment}-origin"
  managed {
    domains            = [var.domain]
    dns_authorizations = [google_certificate_manager_dns_authorization.origin.id]
  }
}

resource "google_certificate_manager_dns_authorization" "origin" {
  project = var.project_id
  name    = "coditect-${var.environment}-origin"
  domain  = var.domain
}

resource "google_certificate_manager_certificate" "workspaces" {
  project = var.project_id
  name    = "coditect-${var.environment}-ws"
  managed {
    domains            = [local.workspace_host]
    dns_authorizations = [google_certificate_manager_dns_authorization.workspaces.id]
  }
}

resource "google_certificate_manager_certificate_map" "edge" {
  project = var.project_id
  name    = "coditect-${var.environment}"
}

resource "google_certificate_manager_certificate_map_entry" "origin" {
  project      = var.project_id
  name         = "origin"
  map          = google_certificate_manager_certificate_map.edge.name
  certificates = [google_certificate_manager_certificate.origin.id]
  hostname     = var.domain
}

resource "google_certificate_manager_certificate_map_entry" "workspaces" {
  project      = var.project_id
  name         = "workspaces"
  map          = google_certificate_manager_certificate_map.edge.name
  certificates = [google_certificate_manager_certificate.workspaces.id]
  hostname     = local.workspace_host
}

resource "google_compute_ssl_policy" "modern" {
  project         = var.project_id
  name            = "coditect-${var.environment}-modern"
  profile         = "MODERN"
  min_tls_version = "TLS_1_2"
}

resource "google_compute_target_https_proxy" "edge" {
  project         = var.project_id
  name            = "coditect-${var.environment}"
  url_map         = google_compute_url_map.edge.id
  certificate_map = "//certificatemanager.googleapis.com/${google_certificate_manager_certificate_map.edge.id}"
  ssl_policy      = google_compute_ssl_policy.modern.id
}

resource "google_compute_global_forwarding_rule" "https" {
  project               = var.project_id
  name                  = "coditect-${var.environment}-https"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.edge.id
  port_range            = "443"
  target                = google_compute_target_https_proxy.edge.id
}

# Plain HTTP only redirects to HTTPS.
resource "google_compute_url_map" "redirect" {
  project = var.project_id
  name    = "coditect-${var.environment}-redirect"
  default_url_redirect {
    https_redirect         = true
    strip_query            = false
    redirect_response_code = "MOVED_PERMANENTLY_DEFAULT"
  }
}

resource "google_compute_target_http_proxy" "redirect" {
  project = var.project_id
  name    = "coditect-${var.environment}-redirect"
  url_map = google_compute_url_map.redirect.id
}

resource "google_compute_global_forwarding_rule" "http" {
  project               = var.project_id
  name                  = "coditect-${var.environment}-http"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.edge.id
  port_range            = "80"
  target                = google_compute_target_http_proxy.redirect.id
}
