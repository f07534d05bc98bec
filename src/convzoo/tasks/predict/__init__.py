"""Classify images: the Classifier (a model, its preprocessing and runtime), the
`convzoo predict` run over files, folders, URLs and stdin, and its outputs."""
