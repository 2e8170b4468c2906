# The Amazon plugin, kept apart so Packer < 1.7 (which bundles it and predates
# required_plugins) can be given the templates without this file.
packer {
  required_plugins {
    amazon = {
      version = ">= 1.3.1"
      source  = "github.com/hashicorp/amazon"
    }
  }
}
