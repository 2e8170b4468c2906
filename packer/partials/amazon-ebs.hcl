{# What every imagekit amazon-ebs source holds, whatever the OS: included first in each OS's
   source block. Values are variables (variables.pkr.hcl); the switches are structure only. #}
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
{%- if skip_provisioning %}
  communicator = "none"
{%- endif %}
{#- Ends without a newline: the including template starts its next line. -#}
