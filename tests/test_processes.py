"""keras_integral.processes: every task runs in a fresh process with the asked-for TensorFlow threads."""

import os

from keras_integral.processes import in_processes


def threads_and_pid(offset):
    import tensorflow as tf

    return offset + tf.config.threading.get_intra_op_parallelism_threads(), \
        tf.config.threading.get_inter_op_parallelism_threads(), os.getpid()


def test_each_task_gets_a_fresh_process_with_its_threads_and_keeps_its_index():
    results = dict(in_processes(threads_and_pid, [(10,), (20,), (30,)], processes=1, threads=1))
    assert sorted(results) == [0, 1, 2]
    assert [results[i][:2] for i in range(3)] == [(11, 1), (21, 1), (31, 1)]
    pids = {results[i][2] for i in range(3)}
    assert len(pids) == 3 and os.getpid() not in pids  # one process per task, even one at a time


def test_no_tasks_start_no_process():
    assert list(in_processes(threads_and_pid, [])) == []


def test_default_processes_is_one_per_core_at_most_the_tasks(monkeypatch):
    from keras_integral import processes

    monkeypatch.setattr(processes.os, "cpu_count", lambda: 2)
    assert [processes.default_processes(n) for n in (0, 1, 2, 5)] == [1, 1, 2, 2]
    monkeypatch.setattr(processes.os, "cpu_count", lambda: None)  # unknown: one at a time
    assert processes.default_processes(5) == 1
