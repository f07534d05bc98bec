"""Keras 3 twins of the zoo's models: channels-last functional `keras.Model`s
that compute what their PyTorch twins compute, from the same weights.

    import convzoo.keras as czk
    model = czk.get_model("resnet50", weights="DEFAULT")     # keras.applications-style options
    twin = czk.from_torch(my_finetuned_torch_model)          # any weights convzoo can load
    x = czk.preprocess_input(images_nhwc_0_255, "resnet50")
    czk.decode_predictions(model.predict(x), top=5)

Each family's builder reads the same configuration table as its PyTorch file,
names every Keras layer after the PyTorch module it mirrors, and writes padding
out explicitly; transfer.py copies the weights by those names. Needs the
optional extra: pip install 'convzoo[keras]' (Keras 3; the torch backend works
without TensorFlow: KERAS_BACKEND=torch).
"""
import importlib
import pkgutil

from .applications import decode_predictions, from_torch, get_model, list_twins, preprocess_input

# Every other module of this package is a family of twins, registering itself on import.
_MACHINERY = {"applications", "backend", "layers", "transfer"}
for _module in pkgutil.iter_modules(__path__):
    if _module.name not in _MACHINERY:
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["get_model", "from_torch", "list_twins", "preprocess_input", "decode_predictions"]
