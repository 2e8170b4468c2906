# imagekit: macOS agent image on EC2 Mac dedicated hosts (mac1 x86_64, mac2* arm64).
# Values come from imagekit.auto.pkrvars.json (written by imagekit render); this file holds
# structure only. Runtime variables at the end are set by `imagekit build` through its own var file.

variable "ami_name" {
  type = string
}

variable "ami_description" {
  type = string
}

variable "fingerprint" {
  type = string
}

variable "region" {
  type = string
}

variable "ami_regions" {
  type = list(string)
}

variable "instance_type" {
  type = string
}

variable "source_ami" {
  type = string
}

variable "source_ami_owners" {
  type = list(string)
}

variable "source_ami_filters" {
  type = map(string)
}

variable "communicator_username" {
  type = string
}

variable "volume_size" {
  type = number
}

variable "root_device_name" {
  type = string
}

variable "agent_version" {
  type = string
}

variable "bootstrap_sha256" {
  type = string
}

variable "scripts" {
  type = list(string)
}

variable "host_resource_group_arn" {
  type = string
}

variable "host_id" {
  type = string
}

variable "tags" {
  type = map(string)
}

# Runtime variables: `imagekit build` sets them from a var file outside this directory.
variable "ec2_endpoint" {
  type    = string
  default = ""
}

variable "ssh_host" {
  type    = string
  default = ""
}

variable "ssh_port" {
  type    = number
  default = 22
}

variable "force_deregister" {
  type    = bool
  default = false
}

source "amazon-ebs" "macos" {
  region                 = var.region
  ami_regions            = var.ami_regions
  ami_name               = var.ami_name
  ami_description        = var.ami_description
  instance_type          = var.instance_type
  custom_endpoint_ec2    = var.ec2_endpoint
  skip_region_validation = var.ec2_endpoint != ""
  force_deregister       = var.force_deregister
  force_delete_snapshot  = var.force_deregister
  encrypt_boot           = true
  tags                   = var.tags
  snapshot_tags          = var.tags
  run_tags               = var.tags
  run_volume_tags        = var.tags
{%- if has_source_ami %}
  source_ami             = var.source_ami
{%- else %}
  source_ami_filter {
    filters     = var.source_ami_filters
    owners      = var.source_ami_owners
    most_recent = true
  }
{%- endif %}
{%- if not legacy %}
  # IMDSv2 only, for the build instance and for every instance launched from the image.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }
  imds_support = "v2.0"
{%- endif %}
  launch_block_device_mappings {
    device_name           = var.root_device_name
    volume_size           = var.volume_size
    volume_type           = "gp3"
    throughput            = 125
    iops                  = 3000
    encrypted             = true
    delete_on_termination = true
  }
  # EC2 Mac runs only on dedicated hosts (24-hour minimum allocation); a Mac takes long to boot
  # and to stop, hence the long SSH timeout and polling.
{%- if legacy %}
  tenancy = "host"
{%- else %}
  # Host placement is a value, not structure, so it never changes the fingerprint.
  placement {
    tenancy                 = "host"
    host_id                 = var.host_id == "" ? null : var.host_id
    host_resource_group_arn = var.host_resource_group_arn == "" ? null : var.host_resource_group_arn
  }
{%- endif %}
  aws_polling {
    delay_seconds = 60
    max_attempts  = 60
  }
{%- if skip_provisioning %}
  communicator = "none"
{%- else %}
  communicator              = "ssh"
  ssh_username              = var.communicator_username
  ssh_host                  = var.ssh_host
  ssh_port                  = var.ssh_port
  ssh_timeout               = "2h"
  ssh_clear_authorized_keys = true
{%- endif %}
}

build {
  sources = ["source.amazon-ebs.macos"]
{% if not skip_provisioning %}
  provisioner "file" {
    sources = [
      "${path.root}/files/com.imagekit.bootstrap.plist",
{%- if has_bootstrap %}
      "${path.root}/files/imagekit-bootstrap",
{%- endif %}
    ]
    destination = "/tmp/"
  }

  provisioner "shell" {
    scripts          = [for s in var.scripts : "${path.root}/${s}"]
    environment_vars = ["IMAGEKIT_AGENT_VERSION=${var.agent_version}", "IMAGEKIT_BOOTSTRAP_SHA256=${var.bootstrap_sha256}"]
    execute_command  = "chmod +x {{ "{{" }} .Path }}; sudo -E sh -c '{{ "{{" }} .Vars }} {{ "{{" }} .Path }}'"
  }
{%- endif %}
}
