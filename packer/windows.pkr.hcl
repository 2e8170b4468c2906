# imagekit: Windows Server 2022 agent image (x86_64), over WinRM on HTTPS.
# Structure only: the variables are declared in variables.pkr.hcl and their values are in
# imagekit.auto.pkrvars.json, both written by imagekit render.

source "amazon-ebs" "windows" {
{%- include "partials/amazon-ebs.hcl" %}
{%- if not skip_provisioning %}
  # The user data sets up a WinRM HTTPS listener with a self-signed certificate; the password
  # is the one EC2 generates, which Packer fetches with the temporary key pair.
  user_data_file = "${path.root}/files/winrm-userdata.ps1"
  communicator   = "winrm"
  winrm_username = var.communicator_username
  winrm_use_ssl  = true
  winrm_insecure = true
  winrm_timeout  = var.communicator_timeout
  winrm_host     = var.ssh_host
  winrm_port     = var.ssh_port == 22 ? 5986 : var.ssh_port
{%- endif %}
}

build {
  sources = ["source.amazon-ebs.windows"]
{% if not skip_provisioning %}
{%- if has_bootstrap %}
  provisioner "file" {
    source      = "${path.root}/files/imagekit-bootstrap.exe"
    destination = "C:/Windows/Temp/imagekit-bootstrap.exe"
  }
{% endif %}
  # The last script resets EC2Launch v2 and runs sysprep; Packer then stops the instance.
  provisioner "powershell" {
    scripts          = [for s in var.scripts : "${path.root}/${s}"]
    environment_vars = ["IMAGEKIT_AGENT_VERSION=${var.agent_version}", "IMAGEKIT_TOOLBOX_VERSION=${var.toolbox_version}", "IMAGEKIT_BOOTSTRAP_SHA256=${var.bootstrap_sha256}", "IMAGEKIT_CLOUDWATCH_AGENT_VERSION=${var.cloudwatch_agent_version}", "IMAGEKIT_CLOUDWATCH_AGENT_SIGNER=${var.cloudwatch_agent_signer}"]
  }
{%- endif %}
}
