"""Image IO, dataset readers and pipelines."""
