# One root for every environment: the platform, its cluster add-ons and the load balancer, wired
# together. What differs between environments is only in ../environments/<environment>.tfvars,
# and the state prefix (coditect/<environment>) is given to `terraform init` (docs/deploy.md).

provider "google" {
  project = var.project_id
  region  = var.region
}

provider "google-beta" {
  project = var.project_id
  region  = var.region
}

data "google_client_config" "current" {}

# Terraform reaches the private cluster through its DNS endpoint: authenticated by IAM with the
# caller's own token, no IP allowlist, no bastion.
provider "kubernetes" {
  host  = "https://${module.platform.cluster_dns_endpoint}"
  token = data.google_client_config.current.access_token
}

provider "helm" {
  kubernetes = {
    host  = "https://${module.platform.cluster_dns_endpoint}"
    token = data.google_client_config.current.access_token
  }
}

module "platform" {
  source = "../../modules/platform"

  project_id           = var.project_id
  environment          = var.environment
  region               = var.region
  domain               = var.domain
  workspace_domain     = var.workspace_domain
  source_bucket        = var.source_bucket
  function_sources     = var.function_sources
  function_env         = var.function_env
  mail                 = var.mail
  stripe_prices        = var.stripe_prices
  alert_email          = var.alert_email
  billing_account      = var.billing_account
  monthly_budget_units = var.monthly_budget_units
  min_instances_public = var.min_instances_public
  workspace_nodes      = var.workspace_nodes
  sidecar_image        = var.sidecar_image
  theia_image          = var.theia_image
  llm_gateway_image    = var.llm_gateway_image
}

module "cluster" {
  source = "../../modules/cluster"

  project_id                  = var.project_id
  fdb_version                 = var.fdb_version
  fdb_backup_bucket           = module.platform.fdb_backup_bucket
  fdb_backup_service_account  = module.platform.fdb_backup_service_account
  provisioner_service_account = module.platform.provisioner_service_account
  functions_cidr              = module.platform.functions_cidr
}

module "edge" {
  source = "../../modules/edge"

  project_id          = var.project_id
  region              = var.region
  environment         = var.environment
  domain              = var.domain
  workspace_domain    = var.workspace_domain
  access_log_bucket   = module.platform.access_log_bucket
  http_functions      = module.platform.http_functions
  llm_gateway_service = module.platform.llm_gateway_service
  workspace_neg_name  = module.cluster.workspace_neg_name
  workspace_neg_zones = var.zones
  workspace_egress    = module.platform.nat_addresses
}
