"""Inside a model: summaries, complexity (MACs), receptive fields, the layer table,
feature-map pictures, Grad-CAM explanations and the lecture's design comparisons."""
