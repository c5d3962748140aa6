"""infrastructure.planner."""
