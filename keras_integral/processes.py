"""Runs one function over many tasks, each in a fresh spawned process with a set number of TensorFlow threads.

On a small CPU, two trainings side by side with one thread each finish
sooner than one after the other with two threads each: small convolutions do
not split well across cores (README, "The demo"). A fresh process per task
means a task's result does not depend on which tasks its process ran before.
"""

import multiprocessing
import os


def in_processes(function, tasks, processes=None, threads=1):
    """Yields `(index, function(*tasks[index]))` for every task, in the order they finish.

    Args:
        function: a module-level function (spawned processes import it by name).
        tasks: list of argument tuples.
        processes: tasks at a time; default: one per CPU core, at most `len(tasks)`.
        threads: TensorFlow intra- and inter-op threads of each process.
    """
    tasks = list(tasks)
    if not tasks:
        return
    processes = processes or default_processes(len(tasks))
    context = multiprocessing.get_context("spawn")  # a fresh TensorFlow in each, with its own thread pools
    with context.Pool(processes, initializer=_set_threads, initargs=(threads,), maxtasksperchild=1) as pool:
        yield from pool.imap_unordered(_indexed, [(function, i, task) for i, task in enumerate(tasks)])


def default_processes(tasks):
    """How many of `tasks` tasks run at a time by default: one per CPU core, at most `tasks`, at least 1."""
    return max(1, min(tasks, os.cpu_count() or 1))


def _set_threads(threads):
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def _indexed(job):
    function, index, task = job
    return index, function(*task)
