"""The Hypothesis stateful search over a cluster (installed code: the CLI runs it too)."""
