"""SavedModel: a dynamic-batch TF SavedModel with `serving_default` (float32) and `serve_uint8` signatures."""

import keras
import tensorflow as tf


def serving_functions(model):
    def serve(images):
        return model.predict_step(images)

    def serve_uint8(images):
        return model.predict_step(tf.cast(images, tf.float32))

    return serve, serve_uint8


def write_saved_model(model, path, batch, uint8):
    shape = (batch, *model.input_size, 3)
    serve, serve_uint8 = serving_functions(model)
    archive = keras.export.ExportArchive()
    archive.track(model)
    # The first endpoint is also written as `serving_default`.
    archive.add_endpoint("serve", serve, input_signature=[tf.TensorSpec(shape, tf.float32, name="images")])
    if uint8:
        archive.add_endpoint("serve_uint8", serve_uint8,
                             input_signature=[tf.TensorSpec(shape, tf.uint8, name="images")])
    archive.write_out(path, verbose=False)
