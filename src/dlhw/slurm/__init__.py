"""dlhw on a Slurm cluster (``dlhw sweep --executor slurm``), built on submitit.

- :mod:`dlhw.slurm.resources`: a trial's ``slurm:`` block -> submitit's parameters and the sbatch
  options ``--dry-run`` prints; trials asking the same resources share one job array.
- :mod:`dlhw.slurm.queue`: what the queue says (``squeue``; no ``sacct``, which needs slurmdbd).
- :mod:`dlhw.slurm.task`: the trial as it runs on a node: its logs into the run folder, Slurm's
  warning signal turned into a checkpoint and a requeue of that array task only.
- :mod:`dlhw.slurm.record`: SWEEP/slurm.json, which trial went to which array task (reattaching).

The executor itself is dlhw.sweeps.executors.slurm. No heavy imports here.
"""

SUBMITIT_HINT = 'pip install "dlhw[slurm]"'
