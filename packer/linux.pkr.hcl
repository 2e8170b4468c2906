# imagekit: Linux agent image (Ubuntu 22.04/24.04, Amazon Linux 2023; x86_64 and arm64).
# Structure only: the variables are declared in variables.pkr.hcl and their values are in
# imagekit.auto.pkrvars.json, both written by imagekit render.

source "amazon-ebs" "linux" {
{%- include "partials/amazon-ebs.hcl" %}
{%- if not skip_provisioning %}
{%- include "partials/ssh.hcl" %}
{%- endif %}
}

build {
  sources = ["source.amazon-ebs.linux"]
{% if not skip_provisioning %}
  provisioner "file" {
    sources = [
      "${path.root}/files/imagekit-bootstrap.service",
{%- if agent == "semaphore" %}
      "${path.root}/files/start.sh",
{%- endif %}
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
