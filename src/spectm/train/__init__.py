"""SpecTM training: the pretraining corpus and loop, fine-tuning, and the deployable model."""
