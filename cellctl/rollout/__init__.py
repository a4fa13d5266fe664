"""Bulk bootstrap and wave rollouts on the Pulumi Automation API (`cellctl bootstrap`, `cellctl rollout`)."""
