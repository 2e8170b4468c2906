{# The SSH communicator (Linux, macOS). #}
  communicator              = "ssh"
  ssh_username              = var.communicator_username
  ssh_host                  = var.ssh_host
  ssh_port                  = var.ssh_port
  ssh_timeout               = var.communicator_timeout
  ssh_clear_authorized_keys = true
{#- Ends without a newline: the including template starts its next line. -#}
