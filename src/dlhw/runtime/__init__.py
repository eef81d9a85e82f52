"""Process concerns and Keras work-arounds: file writes, TensorFlow set-up, signals, the console."""
