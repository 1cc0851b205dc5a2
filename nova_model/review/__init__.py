"""nova-model review: a proposed change to the model against the baseline."""
