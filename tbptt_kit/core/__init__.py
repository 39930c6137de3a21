"""The core of tbptt_kit: what a student reads, in this order, in one sitting.

    batch.py     one (sub-)batch, and windows cut into sub-windows in time order
    windows.py   windows of long records, and their loader
    streams.py   the stream layout: rows that read whole records, per-row resets, padding
    model.py     the stateful RNN: the state goes in and comes out; detach and reset
    learner.py   the loop: reset, carry, detach; the loss, backward, the optimizer step
    checks.py    the few input checks the core makes

It imports only torch, numpy, the standard library and itself; the rest of the kit is
built on it, and ``tbptt_kit`` gives its public names.
"""
