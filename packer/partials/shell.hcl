{# The provisioning scripts, run by sh as root (Linux, macOS). #}
  provisioner "shell" {
    scripts          = [for s in var.scripts : "${path.root}/${s}"]
    environment_vars = ["IMAGEKIT_AGENT_VERSION=${var.agent_version}", "IMAGEKIT_TOOLBOX_VERSION=${var.toolbox_version}", "IMAGEKIT_BOOTSTRAP_SHA256=${var.bootstrap_sha256}", "IMAGEKIT_CLOUDWATCH_AGENT_VERSION=${var.cloudwatch_agent_version}", "IMAGEKIT_CLOUDWATCH_AGENT_SIGNER=${var.cloudwatch_agent_signer}"]
    execute_command  = "chmod +x {{ "{{" }} .Path }}; sudo -E sh -c '{{ "{{" }} .Vars }} {{ "{{" }} .Path }}'"
  }
{#- Ends without a newline: the including template starts its next line. -#}
