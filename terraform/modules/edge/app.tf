# The web app (web/): its built files in a bucket, served on the one origin by a backend bucket
# with Cloud CDN. cloudbuild.yaml's web-upload step writes web/dist here after the apply: hashed
# /assets/* with "public, max-age=31536000, immutable", index.html with "no-cache" (each load
# revalidates, so a deploy shows at once). The headers the app needs are added by the load
# balancer; they are the ones devstack/app serves locally (tests/infra/test_web_hosting.py).

locals {
  # Paths that belong to the API: never answered from the bucket.
  api_prefixes = ["/api/*", "/webhooks/*", "/.well-known/*"]

  # The app's client routes (web/src/App.tsx): served index.html with a 200.
  app_routes = [
    "/",
    "/signup",
    "/signin",
    "/terms",
    "/privacy",
    "/dashboard",
    "/ide",
    "/usage",
    "/billing",
    "/billing/success",
    "/billing/cancel",
    "/settings",
    "/reset-password",
  ]

  # The same policy as devstack/app's security_headers(): no inline script; the app frames only
  # workspace hosts and is framed by nobody. Chakra's CSS-in-JS (emotion) inserts <style> at run
  # time, hence style-src 'unsafe-inline'.
  app_csp = join("; ", [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "frame-src https://*.${var.workspace_domain}",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "object-src 'none'",
  ])

  app_headers = [
    "Content-Security-Policy: ${local.app_csp}",
    "Strict-Transport-Security: max-age=31536000; includeSubDomains",
    "X-Content-Type-Options: nosniff",
    "X-Frame-Options: DENY",
    "Referrer-Policy: no-referrer",
  ]
}

resource "google_storage_bucket" "app" {
  # The app's files are what every visitor's browser downloads; nothing in them is secret, so its
  # objects are readable by anyone (no listing, see app_public below). It holds no data that a
  # customer-managed key would protect.
  #checkov:skip=CKV_GCP_114:Public access is on purpose: the built web app is public by nature; objects are readable but the bucket cannot be listed.
  project                     = var.project_id
  name                        = "${var.project_id}-web"
  location                    = coalesce(var.app_bucket_location, var.region)
  uniform_bucket_level_access = true
  public_access_prevention    = "inherited"
  labels                      = { app = "coditect", env = var.environment }

  # A bad deploy is rolled back by restoring the previous generations.
  versioning {
    enabled = true
  }

  # "/" and unknown paths: index.html (the app routes them itself).
  website {
    main_page_suffix = "index.html"
    not_found_page   = "index.html"
  }

  logging {
    log_bucket = var.access_log_bucket
  }

  # Replaced files (each deploy's index.html, old assets once re-uploaded) go after 30 days.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }
}

# Read, not list: roles/storage.legacyObjectReader carries storage.objects.get only, so the
# bucket's contents cannot be enumerated (objectViewer would add storage.objects.list).
resource "google_storage_bucket_iam_member" "app_public" {
  #checkov:skip=CKV_GCP_28:The web app's files are public by nature (every browser downloads them); allUsers may get objects but not list the bucket.
  bucket = google_storage_bucket.app.name
  role   = "roles/storage.legacyObjectReader"
  member = "allUsers"
}

resource "google_compute_backend_bucket" "app" {
  project          = var.project_id
  name             = "coditect-${var.environment}-app"
  description      = "The web app (web/dist) on the one origin, cached by Cloud CDN"
  bucket_name      = google_storage_bucket.app.name
  enable_cdn       = true
  compression_mode = "AUTOMATIC"

  # The objects' own Cache-Control decides: a year for hashed assets, revalidation for index.html.
  cdn_policy {
    cache_mode         = "USE_ORIGIN_HEADERS"
    request_coalescing = true
    # The not-found page (index.html with a 404) is cached briefly only.
    negative_caching = true
    negative_caching_policy {
      code = 404
      ttl  = 60
    }
  }

  custom_response_headers = local.app_headers
}
