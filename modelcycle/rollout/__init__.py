"""Progressive delivery: deployments of a model's versions (canary with automatic analysis and
rollback, A/B tests with sticky assignment, shadow traffic, blue-green switches), routed inside
the model server and shared by every worker through the store."""

from modelcycle.rollout.router import Router, bucket
from modelcycle.rollout.strategies import Checks

__all__ = ["Checks", "Router", "bucket"]
