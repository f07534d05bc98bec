"""Small utilities shared across tasks."""
