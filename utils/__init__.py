"""Shared logic of the NIWT stages: one module per concept (config, datasets, splits, nets, preprocessing, io)."""
