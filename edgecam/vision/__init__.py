"""Pre-processing, post-processing and the Classifier."""

from edgecam.vision.classifier import Classifier, read_image
from edgecam.vision.types import Category, Classification, Timings

__all__ = ["Category", "Classification", "Classifier", "Timings", "read_image"]
