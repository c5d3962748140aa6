"""infrastructure.runtime."""
