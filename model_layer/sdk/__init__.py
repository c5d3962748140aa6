"""The gateway SDK: the only part of model_layer that applications may import."""
