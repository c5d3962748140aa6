"""Shopping assistant (Rufus-like), built on model_layer.sdk."""
