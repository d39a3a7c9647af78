"""edgecam: image classification with TFLite on laptops, Raspberry Pi and Coral boards.

Importing edgecam is cheap: it does no I/O, probes no hardware and never imports TensorFlow or
Qt. Runtimes and OpenCV are imported by the modules that need them.
"""

__version__ = "0.1.0"
