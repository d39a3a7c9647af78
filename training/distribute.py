"""tf.distribute strategies for `edgecam train --strategy`: one device, every local GPU, or
several machines (MultiWorkerMirroredStrategy, configured by the standard ``TF_CONFIG``).

Keras 3 (3.15.1, pinned in requirements/constraints.txt) does not run ``Model.fit`` under
MultiWorkerMirroredStrategy as shipped (keras-team/keras#20585, tensorflow/tensorflow#72388):
two of its TensorFlow trainer's helpers reduce values across workers in ways the collective
ops refuse. :func:`_fix_keras_multi_worker` replaces those two, for this strategy only:

* building the model from a first batch reduces that batch across workers just to learn its
  shapes (an eager collective on a PerReplica value fails); the local part has the same shapes;
* the per-step logs (loss, accuracy: scalars) are reduced with ``axis=0``, which a scalar does
  not have; a scalar's mean across workers needs no axis.

Both are checked by tests/test_training_multiworker.py, which trains with two real worker
processes on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from training.errors import TrainingError

STRATEGIES = ("default", "mirrored", "multiworker")
WORKERS = "workers"  # under --out: the other workers' own folders
TF_CONFIG = "TF_CONFIG"
HINT = (
    "set TF_CONFIG on every worker, e.g. "
    '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", '
    '"index": 0}} (docs/TRAINING.md, "Several machines")'
)


@dataclass(frozen=True)
class Role:
    """This process's place in the cluster."""

    task: str = "worker"
    index: int = 0
    workers: int = 1  # the machines training together (chief included)
    chief: bool = True  # writes the run's files; the others keep only their own backups

    def describe(self) -> str:
        if self.workers == 1:
            return "one worker"
        name = f"{self.task} {self.index}"
        return f"{name} of {self.workers} workers" + (
            " (the chief: it writes the run)" if self.chief else ""
        )


def read_tf_config(text: str | None = None) -> Role:
    """This process's :class:`Role` from ``TF_CONFIG`` (the environment's when not given).

    Raises:
        TrainingError: missing, not JSON, or a task that is not in the cluster.
    """
    text = os.environ.get(TF_CONFIG) if text is None else text
    if not text:
        raise TrainingError("--strategy multiworker needs TF_CONFIG, and it is not set", HINT)
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        kind, index = str(task["type"]), int(task["index"])
        members = {str(k): list(v) for k, v in cluster.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TrainingError(f"TF_CONFIG is not a valid cluster description ({exc})", HINT) from None
    if kind not in members or not 0 <= index < len(members[kind]):
        raise TrainingError(f"TF_CONFIG's task {kind} {index} is not in its cluster", HINT)
    workers = len(members.get("chief", [])) + len(members.get("worker", []))
    # TensorFlow's rule: the "chief" task if there is one, else worker 0.
    chief = kind == "chief" or ("chief" not in members and kind == "worker" and index == 0)
    return Role(kind, index, workers, chief)


_made: dict[str, tuple[object, Role]] = {}


def make_strategy(name: str):
    """``(strategy, role)`` for ``--strategy NAME``: the ``tf.distribute`` strategy and this
    process's :class:`Role`, made once per process (MultiWorkerMirroredStrategy must exist
    before any other TensorFlow work, so ``edgecam train`` makes it before loading the data).

    Raises:
        TrainingError: an unknown name, or a missing or invalid ``TF_CONFIG``.
    """
    if name not in STRATEGIES:
        raise TrainingError(f"unknown strategy '{name}'", f"use one of {', '.join(STRATEGIES)}")
    if name not in _made:
        import tensorflow as tf

        if name == "multiworker":
            role = read_tf_config()
            _fix_keras_multi_worker()
            _made[name] = tf.distribute.MultiWorkerMirroredStrategy(), role
        elif name == "mirrored":
            _made[name] = tf.distribute.MirroredStrategy(), Role()
        else:
            _made[name] = tf.distribute.get_strategy(), Role()
    return _made[name]


def own_folder(out_dir: Path, role: Role) -> Path:
    """Where this worker keeps its backup and data cache: ``out_dir`` for the chief,
    ``out_dir/workers/INDEX`` for the others (their training state, never the run's files)."""
    return out_dir if role.chief else out_dir / WORKERS / str(role.index)


def fewest_epochs(strategy, most: int):
    """``agree(epochs) -> int``: the fewest epochs (of at most ``most``) that any worker can
    resume from, found with one all-reduce across the workers (each must call it, as every
    collective). A sum of "I have k" flags: k is common to all where the sum is every replica."""
    import tensorflow as tf

    def agree(epochs: int) -> int:
        flags = [1.0 if k <= epochs else 0.0 for k in range(most + 1)]
        values = strategy.experimental_distribute_values_from_function(lambda _: tf.constant(flags))
        summed = strategy.reduce("SUM", values, axis=None).numpy()
        everyone = strategy.num_replicas_in_sync - 0.5
        return max(k for k in range(most + 1) if summed[k] >= everyone)

    return agree


_fixed = False


def _fix_keras_multi_worker() -> None:
    """Replace the two Keras helpers that fail under MultiWorkerMirroredStrategy (see above)."""
    global _fixed
    if _fixed:
        return
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    def local_part(value, strategy):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            for _, _, batches in iterator:
                batch = next(batches)
                data_batch = tree.map_structure(
                    lambda v: local_part(v, self.distribute_strategy), batch
                )
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    reduce_per_replica = trainer.reduce_per_replica

    def reduce_scalars_without_axis(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):

            def mean(v):
                axis = None if v.shape.rank == 0 else 0
                return strategy.reduce("MEAN", v, axis=axis)

            return tree.map_structure(mean, values)
        return reduce_per_replica(values, strategy, reduction)

    trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    trainer.reduce_per_replica = reduce_scalars_without_axis
    _fixed = True
