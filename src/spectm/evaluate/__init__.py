"""Evaluation: grouped splits, metrics, sklearn baselines, intervals, label efficiency."""
