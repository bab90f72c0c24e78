"""LoRA training: config, data sets, runs and checkpoints."""
