"""The keras.applications-style entry points: build a twin by name, with the
weights of its PyTorch twin, and the preprocessing and class names that go
with them."""
from typing import Callable

import numpy as np

from .backend import import_keras
from .transfer import transfer_weights

keras = import_keras()

# name -> builder(x) -> (stage outputs, head), filled by each family module.
BUILDERS: dict[str, Callable] = {}


def register_twin(name: str, builder: Callable) -> None:
    BUILDERS[name] = builder


def list_twins() -> list[str]:
    """Names of the models that have a Keras twin (every family but NASNet), sorted."""
    return sorted(BUILDERS)


def classifier_head(drop_rate: float = 0.0, pre: Callable | None = None):
    """layers.ClassifierHead: optional pre-pool layers, global average pool, dropout, `head-fc`."""
    def head(x, classes: int, name: str = "head"):
        if pre is not None:
            x = pre(x)
        x = keras.layers.GlobalAveragePooling2D(name=f"{name}-pool")(x)
        if drop_rate:
            x = keras.layers.Dropout(drop_rate, name=f"{name}-drop")(x)
        return keras.layers.Dense(classes, name=f"{name}-fc")(x)
    head.pre = pre
    return head


def get_model(name: str, *, include_top: bool = True, weights: str | None = None, input_shape=None,
              pooling: str | None = None, classes: int = 1000, classifier_activation: str | None = "softmax",
              features_only: bool = False):
    """The Keras twin of convzoo model `name`, channels-last.

    weights: None (Keras's own initialisation), or anything `convzoo.get_model`
    loads ("DEFAULT", a tag, a checkpoint file): the PyTorch twin is built with
    them and its weights copied over. include_top / pooling / classes /
    classifier_activation as in keras.applications; features_only: the model
    returns every stage's output (what `forward_stages` returns in PyTorch)."""
    from ..factory import get_model as get_torch_model

    torch_model = None
    if weights is not None:
        torch_model = get_torch_model(name, weights=weights, num_classes=classes if include_top else None)
    return _build(name, torch_model, include_top, input_shape, pooling, classes, classifier_activation,
                  features_only)


def from_torch(torch_model, **options):
    """The Keras twin of a convzoo PyTorch model, with its weights (a fine-tuned
    one included): `from_torch(cz.get_model("resnet18", weights=...))`."""
    name = getattr(torch_model, "name", None)
    if name is None:
        raise ValueError("from_torch needs a model built by convzoo.get_model (it names its architecture)")
    options.setdefault("classes", torch_model.num_classes)
    return _build(name, torch_model.eval(), options.pop("include_top", True), options.pop("input_shape", None),
                  options.pop("pooling", None), options.pop("classes"), options.pop("classifier_activation", None),
                  options.pop("features_only", False), **options)


def _build(name, torch_model, include_top, input_shape, pooling, classes, classifier_activation, features_only):
    from ..factory import default_preprocessing, model_info

    if name not in BUILDERS:
        import difflib

        close = difflib.get_close_matches(name, list(BUILDERS), n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"no Keras twin of {name!r}.{hint} convzoo.keras.list_twins() lists them")
    model_info(name)  # an unknown name fails here with the registry's own message
    if input_shape is None:
        size = default_preprocessing(name).crop_size
        input_shape = (size, size, 3)
    inputs = keras.Input(tuple(input_shape), name="image")
    stages, head = BUILDERS[name](inputs, **_architecture_options(BUILDERS[name], torch_model))
    if features_only:
        outputs = list(stages)
    elif include_top:
        outputs = head(stages[-1], classes)
        if classifier_activation is not None:
            outputs = keras.layers.Activation(classifier_activation, name="predictions")(outputs)
    else:
        outputs = stages[-1]
        if getattr(head, "pre", None) is not None:  # the head's own pre-pool layers belong to the features
            outputs = head.pre(outputs)
        if pooling == "avg":
            outputs = keras.layers.GlobalAveragePooling2D(name="pool")(outputs)
        elif pooling == "max":
            outputs = keras.layers.GlobalMaxPooling2D(name="pool")(outputs)
        elif pooling is not None:
            raise ValueError(f"pooling must be None, 'avg' or 'max', not {pooling!r}")
    model = keras.Model(inputs, outputs, name=name)
    if torch_model is not None:
        transfer_weights(torch_model, model)
    return model


def _architecture_options(builder, torch_model) -> dict:
    """The options the PyTorch twin was built with (factory.get_model records
    them) that change its architecture and that the Keras builder also takes
    (e.g. MNASNet's legacy_stem); the others (num_classes, drop rates) are
    the head's or training's business."""
    import inspect

    built_with = getattr(torch_model, "build_kwargs", None) or {}
    accepted = inspect.signature(builder).parameters
    unmirrored = sorted(k for k in built_with if k not in accepted and k not in _NOT_ARCHITECTURE)
    if unmirrored:  # the twin would compute something else with the same weights: refuse
        options = ", ".join(f"{k}={built_with[k]!r}" for k in unmirrored)
        raise ValueError(f"the Keras twin of {torch_model.name} cannot be built with {options}: build the PyTorch "
                         f"model without it to carry its weights over")
    return {k: v for k, v in built_with.items() if k in accepted and k != "x"}


# Options of PyTorch builders that do not change the inference graph's shape or
# function (or change a shape the weight copy then refuses by name: in_chans).
_NOT_ARCHITECTURE = {"num_classes", "in_chans", "drop_rate", "drop_path_rate", "memory_efficient",
                     "transform_input", "aux_logits"}


def preprocess_input(images, name: str = "efficientnet_lite0"):
    """RGB images (N, H, W, 3), values 0..255, already resized and cropped to the
    model's input, normalised as the PyTorch twin's weights expect."""
    from ..factory import default_preprocessing

    pre = default_preprocessing(name)
    x = np.asarray(images, dtype=np.float32) / 255.0
    return (x - np.asarray(pre.mean, np.float32)) / np.asarray(pre.std, np.float32)


def decode_predictions(predictions, top: int = 5, classes=None) -> list[list[tuple[int, str, float]]]:
    """(index, class name, score) of the `top` classes of each row, best first
    (ImageNet's names for 1000 classes unless `classes` is given)."""
    from ..data.preprocessing import imagenet_categories

    predictions = np.asarray(predictions)
    names = list(classes) if classes is not None else (
        list(imagenet_categories()) if predictions.shape[-1] == 1000 else [str(i) for i in range(predictions.shape[-1])])
    order = np.argsort(-predictions, axis=-1)[:, :top]
    return [[(int(i), names[i], float(row[i])) for i in idx] for row, idx in zip(predictions, order)]
