"""The training app: everything around the model that turns it into runs on sequence-MNIST.

The model and its study tools are the package above (:mod:`scratch_lstm`); nothing there imports
from here. Reading order, from the command line down::

    cli.py            the ``scratch-lstm`` command: train, eval, inspect, bench, gates, gradient-flow
    command.py        how a command ends: one error line and an exit code (the scripts' too)
    flags.py          checked number types and the help formatter the commands share
    train.py          a run, top to bottom: prepare, open the folder, epochs, finish
    config.py         the run's settings (TrainConfig), their checks, the device
    data.py           MNIST's IDX files read and checked by hand, the embedded sample, batches
    runs.py           run folders: where a run goes, what it holds, metrics, curves, summary
    lock.py           one writer per run folder: the folder's lock
    checkpoints.py    what a checkpoint holds, how it is read back and checked
    resume.py         what --resume checks, restores and repairs
    files.py          atomic writes never through a link, regular files only, what a command wrote
    limits.py         what the machine can hold: the bounds of the size flags and --threads
    evaluate.py       accuracy and the confusion matrix; the eval command
    progress.py       progress bars and log lines
    cuda_graphs.py    a training step replayed from a CUDA graph
    distributed.py    training in several processes (torchrun): who writes, what is summed
    plots.py          every figure
    gates_report.py   the gates command
    flow_report.py    the gradient-flow command
    bench.py          the benchmark against nn.LSTM
    errors.py         the errors a user can fix
"""
