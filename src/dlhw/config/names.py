"""Names the config accepts, kept as plain data so validation needs no TensorFlow.

The registries that build these things (dlhw.models, dlhw.training.optimizers,
dlhw.data) are checked against these tuples by the test suite.
"""

DATASET_SOURCES = ("csv", "image_csv", "image_folder", "keras", "sequences", "sklearn")

# What each data source needs and refuses in the dataset section, as data (dlhw.config may not import
# dlhw.data; tests/data/test_source_plugins.py holds this table against each source's own module):
# "requires": keys that must be set; "refuses": key -> why it cannot be used with this source;
# "npy_labels": a .npy dataset.path needs dataset.labels (a .npz or CSV holds its own labels).
SOURCE_RULES: dict = {
    "sklearn": {"requires": ("name",)},
    "keras": {"requires": ("name",)},
    "csv": {"requires": ("path", "target")},
    "image_csv": {"requires": ("path", "target"),
                  "refuses": {"features": "source image_csv reads the image only; remove features",
                              "augment": "a flipped image no longer matches its image_csv targets (landmark "
                                         "coordinates); remove augment"}},
    "image_folder": {"requires": ("path",)},
    "sequences": {"requires": ("path",), "npy_labels": True},
}
KEY_HINTS = {"target": " (the label column)"}  # said after a required key's name

ACTIVATIONS = (
    "relu", "sigmoid", "softmax", "tanh", "linear", "elu", "selu", "gelu", "swish", "silu",
    "softplus", "softsign", "leaky_relu", "relu6", "exponential", "hard_sigmoid", "mish",
    "log_softmax",
)

INITIALIZERS = (
    "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
    "random_uniform", "random_normal", "truncated_normal", "orthogonal", "zeros", "ones",
)

OPTIMIZERS = ("adagrad", "adam", "adamw", "rmsprop", "sgd")

LOSSES = (
    "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
    "mse", "mae", "masked_euclidean", "masked_mse",
)

BACKBONES = (
    "densenet121", "densenet169", "densenet201",
    "resnet50", "resnet101", "resnet152",
    "resnet50v2", "resnet101v2", "resnet152v2",
    "mobilenet_v2",
    "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
    "vgg16", "vgg19",
)
