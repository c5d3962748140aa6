"""Wire formats: botocore-model validation, Converse/InvokeModel translation, event-stream framing."""
