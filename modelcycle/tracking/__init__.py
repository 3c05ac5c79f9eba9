"""Experiments, runs, params, metrics, tags and artifacts."""
