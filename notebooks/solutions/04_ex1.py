# Exercise 1, a worked solution: TBPTT in a bare nn.LSTM loop.
import torch


def tbptt_grads(rnn, head, batches, sub_seq_len):
    for u, y in batches:
        state = None  # the reset: a new batch of windows starts from zeros
        for t in range(0, u.shape[1], sub_seq_len):
            out, state = rnn(u[:, t : t + sub_seq_len], state)  # the carry: start from state
            loss = ((head(out) - y[:, t : t + sub_seq_len]) ** 2).mean()
            loss.backward()  # gradients add up over the sub-windows (no zero_grad)
            state = tuple(s.detach() for s in state)  # the truncation: gradients stop here
    return [p.grad for p in [*rnn.parameters(), *head.parameters()]]


setup = checks.exercise_setup()  # (rnn, head, batches)
[g.shape for g in tbptt_grads(setup[0], setup[1], setup[2], sub_seq_len=6)]
