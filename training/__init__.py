"""Training side of edgecam: build, train, evaluate and export MobileNet-style classifiers.

Needs TensorFlow (``pip install 'edgecam[train]'``); the ``edgecam`` package never imports it.
The training pipeline lands with its own issue; this package holds the shared pieces so far.
"""
