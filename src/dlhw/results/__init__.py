"""What a finished run answers: predictions for new inputs (``dlhw predict``) and its
layers' activations (``dlhw inspect``)."""
