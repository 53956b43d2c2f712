"""revrules: segmentation rules as code for RevOps."""

__version__ = "0.1.0"
