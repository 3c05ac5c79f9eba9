"""Monitoring: windows of the prediction log against the training data's profile, performance
from feedback labels, alert rules and their notifications."""

from modelcycle.monitoring.monitor import Monitor, monitor_results

__all__ = ["Monitor", "monitor_results"]
