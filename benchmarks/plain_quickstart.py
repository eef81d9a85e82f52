"""The quickstart experiment written as a plain Keras script, the way a student would.

Same data (sklearn digits, stratified 70/15/15 split, standardised on train),
same MLP (256 -> 512 relu -> softmax), Adam 1e-3, 20 epochs, batch 32, seed 0,
and the same core outputs a person looks at: history CSV, learning curves,
confusion matrix, test metrics and the saved model. benchmarks/overhead.py times
this against `dlhw run configs/quickstart.yaml`.

    python benchmarks/plain_quickstart.py OUT_DIR
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score, f1_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

out = sys.argv[1] if len(sys.argv) > 1 else "plain_run"
os.makedirs(out, exist_ok=True)
keras.utils.set_random_seed(0)
tf.config.experimental.enable_op_determinism()

x, y = load_digits(return_X_y=True)
x_train, x_rest, y_train, y_rest = train_test_split(x, y, test_size=0.3, stratify=y, random_state=0)
x_val, x_test, y_val, y_test = train_test_split(x_rest, y_rest, test_size=0.5, stratify=y_rest, random_state=0)
scaler = StandardScaler().fit(x_train)
x_train, x_val, x_test = (scaler.transform(a).astype("float32") for a in (x_train, x_val, x_test))

model = keras.Sequential([
    keras.Input(shape=(64,)),
    keras.layers.Dense(256, activation="relu"),
    keras.layers.Dense(512, activation="relu"),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=20, batch_size=32, verbose=0)

pd.DataFrame(history.history).to_csv(os.path.join(out, "history.csv"), index_label="epoch")
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for ax, key in zip(axes, ("loss", "accuracy")):
    ax.plot(history.history[key], label="train")
    ax.plot(history.history["val_" + key], label="val")
    ax.set_title(key)
    ax.legend()
fig.savefig(os.path.join(out, "curves.png"))
pred = model.predict(x_test, verbose=0).argmax(axis=1)
ConfusionMatrixDisplay.from_predictions(y_test, pred)
plt.savefig(os.path.join(out, "confusion_matrix.png"))
model.save(os.path.join(out, "model.keras"))
with open(os.path.join(out, "metrics.json"), "w") as fh:
    json.dump({"test_accuracy": accuracy_score(y_test, pred), "test_f1": f1_score(y_test, pred, average="macro")}, fh)
print(f"test accuracy {accuracy_score(y_test, pred):.4f}")
