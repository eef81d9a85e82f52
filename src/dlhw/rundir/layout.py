"""Every file name dlhw writes, defined once (../shared/CONFIG.md describes the layout).

A run folder (``dlhw run``, and each trial of a sweep)::

    config.yaml  status.json  env.json  summary.txt  preprocessing.json  samples.png
    history.csv  history_steps.csv  curves.png (curves.txt for a classifier)  steps_curves.png
    curves_outputs.png (model.outputs)
    metrics.json  model.keras  classifier.joblib
    confusion_matrix.png/.csv  roc.png  predicted_vs_true.png  open_set_confusion.png/.csv
    tb/  checkpoints/last.ckpt.npz (and the best weights)  mlflow.json (tracking.mlflow)
    wandb.json and wandb/ (tracking.wandb: the W&B run id; W&B's own files, offline runs to sync)

A sweep folder holds its trials' run folders and sweep.json (plus sweep.jsonl while it runs); a report folder
report.html, summary.csv, summary.md and charts/; ``dlhw inspect`` writes
activations.csv / .png. The JSON files are typed records (dlhw.rundir.records; docs/RUN_FOLDER.md).
No imports: any module may use these names.
"""

# ------------------------------------------------------------------ run folder
CONFIG = "config.yaml"                 # the resolved config, every default filled in
STATUS = "status.json"                 # where the run stands: a dlhw.rundir.states.Status word
ENV = "env.json"                       # versions, devices, seed, git commit, dataset fingerprint
SUMMARY = "summary.txt"                # the model summary
PREPROCESSING = "preprocessing.json"   # what the model expects as input (dlhw predict)
SAMPLES = "samples.png"
HISTORY = "history.csv"                # one row per epoch
HISTORY_STEPS = "history_steps.csv"    # training.log_steps
CURVES = "curves.png"
CURVES_OUTPUTS = "curves_outputs.png"    # model.outputs: loss and metric of each named output
CURVES_NOTE = "curves.txt"             # a classifier run: why there are no curves
STEP_CURVES = "steps_curves.png"
METRICS = "metrics.json"               # written last: a run with it finished
MODEL = "model.keras"
ESTIMATOR = "classifier.joblib"        # model.classifier: the fitted scikit-learn estimator
CONFUSION_PNG = "confusion_matrix.png"
CONFUSION_CSV = "confusion_matrix.csv"
ROC = "roc.png"
PREDICTED_VS_TRUE = "predicted_vs_true.png"
OPEN_SET_CONFUSION_PNG = "open_set_confusion.png"
OPEN_SET_CONFUSION_CSV = "open_set_confusion.csv"
TENSORBOARD = "tb"                     # a folder
CHECKPOINTS = "checkpoints"            # a folder: the resume checkpoint and the best weights
CHECKPOINT = "last.ckpt.npz"           # inside CHECKPOINTS
MLFLOW = "mlflow.json"                 # tracking.mlflow: the MLflow run this folder is copied to (a sweep's: its parent run)
WANDB = "wandb.json"                   # tracking.wandb: the W&B run this folder is copied to (resume continues it)
SLURM = "slurm.json"                   # executor slurm: RUN/slurm.json (its task's starts), SWEEP/slurm.json (trial -> task)
WANDB_DIR = "wandb"                    # a folder: W&B's own files (offline-run-*: upload with `wandb sync`)
HPARAMS_SUFFIX = ".dlhw-hparams"       # TensorBoard HParams event files a sweep writes (events.out.tfevents.*<suffix>)

RESULT_FILES = (METRICS, MODEL)        # what marks a finished run (removed when a run ends badly)

# ---------------------------------------------------------------- sweep folder
SWEEP_MANIFEST = "sweep.json"
SWEEP_LOG = "sweep.jsonl"              # trial events since sweep.json was last written (rundir.sweep_log)

# --------------------------------------------------------------- report folder
REPORT = "report.html"
SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"
CHARTS = "charts"                      # a folder

# ------------------------------------------------------------------ dlhw inspect
ACTIVATIONS_CSV = "activations.csv"
ACTIVATIONS_PNG = "activations.png"
