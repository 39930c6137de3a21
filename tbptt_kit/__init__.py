"""tbptt_kit: truncated backpropagation through time, taught with stateful RNNs."""
