"""The gate explorer: one offline HTML page for stepping through a digit, gate by gate.

``explore(checkpoint)`` makes the page (:mod:`~scratch_lstm.app.explorer.page`); ``scratch-lstm
explore`` is the command. Its files, read in this order: ``page.py`` (what the page carries),
``lstm.js`` (the LSTM forward in the browser: the six equations), ``lstm_backward.js`` (the same
equations backwards), ``clamps.js`` (a clamp's text), ``state.js`` (the state and its URL hash),
``runs.js``, ``paint.js``, one ``view_*.js`` per panel, ``explorer.js`` (the start and the keys),
``api.js`` (``window.explorer``), ``explorer.html`` and ``explorer.css`` (the frame),
``sample_model.npz`` (the built-in model, made by ``scripts/make_explorer_model.py``). See
``docs/explorer.md``.
"""

from .page import ExplorerPage, explore

__all__ = ["ExplorerPage", "explore"]
