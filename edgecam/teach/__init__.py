"""Few-shot learning without TensorFlow: a head on a pretrained embedder (``edgecam teach``).

* :mod:`edgecam.teach.teacher`: :class:`Teacher` (add images, fit, export a bundle);
* :mod:`edgecam.teach.head`: the head in numpy (imprinting, then softmax regression);
* :mod:`edgecam.teach.embedder`: which tensor is the embedding, and the head's ops after it;
* :mod:`edgecam.teach.graph`: reading and extending a ``.tflite`` without a schema package.

Importing this package loads no model and touches no file.
"""

from edgecam.teach.head import FitConfig, Head, fit_head
from edgecam.teach.teacher import Teacher, TeachError, TeachOptions, TeachReport

__all__ = ["FitConfig", "Head", "TeachError", "TeachOptions", "TeachReport", "Teacher", "fit_head"]
