"""openscore: audit released AI models for openness and provenance, from their files."""

__version__ = "0.1.0"
