"""infrastructure.provisioner."""
