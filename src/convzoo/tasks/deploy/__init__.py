"""Run a model elsewhere or faster: inference runtimes and precisions (optimize/),
and deployment files checked against the model (export/)."""
