"""Training side of edgecam: build, train, evaluate and export MobileNet-style classifiers.

Needs TensorFlow (``pip install 'edgecam[train]'``); the ``edgecam`` package never imports it,
while this package imports edgecam to evaluate exported models with the code the app runs.
Modules: data (folders and Fashion-MNIST -> tf.data), model, train, quantize, export, edgetpu,
evaluate, and cli (``edgecam train | export | evaluate``).
"""
