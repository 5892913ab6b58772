"""Training: recipes, the GAN/distillation trainer and the training loop."""

from pirm_enhance.training.loop import TrainingInterrupted, train
from pirm_enhance.training.recipes import RECIPES, list_recipes, recipe
from pirm_enhance.training.trainer import EnhancerTrainer

__all__ = ["EnhancerTrainer", "RECIPES", "TrainingInterrupted", "list_recipes", "recipe", "train"]
