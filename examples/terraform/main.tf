# The example provider at work: one entry, and a data source reading it back.
# Run it in an empty directory (with this file in it) as README.md says: no
# `terraform init`, the CLI configuration's dev_overrides points Terraform at
# the provider.

terraform {
  required_providers {
    example = {
      # The full address: OpenTofu would read "rpcplugin/example" as
      # registry.opentofu.org/rpcplugin/example.
      source = "registry.terraform.io/rpcplugin/example"
    }
  }
}

provider "example" {
  # Relative to the working directory: entries/greeting.json.
  directory = "entries"
}

resource "example_entry" "greeting" {
  name        = "greeting"
  value       = "hello"
  description = "written by terraform"
}

# Read back through the data source (during apply, after the entry exists).
data "example_entry" "greeting" {
  name = example_entry.greeting.name
}

output "revision" {
  value = example_entry.greeting.revision
}

output "read_back" {
  value = data.example_entry.greeting.value
}
