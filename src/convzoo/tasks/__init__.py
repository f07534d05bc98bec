"""Tasks built on the models: complexity counting (more to come: classify, train, benchmark)."""
