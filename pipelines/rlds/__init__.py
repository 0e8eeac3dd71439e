"""RLDS without TensorFlow: TFRecord framing, tf.train.Example protobufs, and TFDS builder folders."""
