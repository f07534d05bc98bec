"""Which model: bench (latency, throughput, memory, accuracy), compare (several models
on the same images), select (the linear probe on the user's own images), the pareto front."""
