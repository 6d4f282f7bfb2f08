"""The package version: a leaf module, so the zoo and export can record it without importing the package."""

__version__ = "0.1.0"
