"""The lecture's model, as its author wrote it, on ``torch.nn.LSTM``: the oracle for tests and examples.

Not installed with the package: tests import it through pytest's ``pythonpath``; examples add the
repository root to ``sys.path``.
"""
