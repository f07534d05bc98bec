"""Teach a model the user's images: the fine-tuning loop and its epoch, its optimiser and
schedule, evaluation on held-out images, the run's plots and logs (metrics.csv,
TensorBoard, MLflow), and segmentation training.

The names of the old `convzoo.tasks.train` module are re-exported here, since this
room now holds that path."""
from .epoch import loss_and_logits
from .loop import TrainConfig, build_model, check_config, train

__all__ = ["TrainConfig", "build_model", "check_config", "loss_and_logits", "train"]
