"""Tasks built on the factory: classify, train, evaluate, complexity, summaries."""
