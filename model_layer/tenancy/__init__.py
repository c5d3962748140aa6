"""Tenancy: quotas, rate limits, usage metering and the invocation log."""
