"""One experiment, end to end: config -> data -> model -> training (or a fitted
classifier) -> evaluation -> run folder. The layer above models, training and
evaluation; nothing below it imports it."""
