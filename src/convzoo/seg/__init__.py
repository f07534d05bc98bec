"""Segmentation over any convzoo encoder (issue 16): decoders that take the
maps of `get_model(name, features_only=True)`, segmentation data and training.
It sits beside `keras`, above `factory` (it builds encoders by name) and below
`tasks`."""
