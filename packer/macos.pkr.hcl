# imagekit: macOS agent image on EC2 Mac dedicated hosts (mac1 x86_64, mac2* arm64).
# Structure only: the variables are declared in variables.pkr.hcl and their values are in
# imagekit.auto.pkrvars.json, both written by imagekit render.

source "amazon-ebs" "macos" {
{%- include "partials/amazon-ebs.hcl" %}
  # EC2 Mac runs only on dedicated hosts (24-hour minimum allocation); a Mac takes long to boot
  # and to stop, hence the long polling (and communicator_timeout).
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
{%- if not skip_provisioning %}
{%- include "partials/ssh.hcl" %}
{%- endif %}
}

build {
  sources = ["source.amazon-ebs.macos"]
{% if not skip_provisioning %}
  provisioner "file" {
    sources = [
      "${path.root}/files/com.imagekit.bootstrap.plist",
{%- if has_agent_checksums %}
      "${path.root}/files/agent-checksums.txt",
{%- endif %}
{%- if has_bootstrap %}
      "${path.root}/files/imagekit-bootstrap",
{%- endif %}
    ]
    destination = "/tmp/"
  }
{% include "partials/shell.hcl" %}
{%- endif %}
}
