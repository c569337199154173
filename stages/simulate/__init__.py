"""Simulate stage: every clip tracked by a model-based whole-body controller in MuJoCo and recorded."""
