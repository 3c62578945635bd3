"""Compatibility with the outside openness anchors: the OSAI Index database and the Model Openness Tool."""
