# Graded test for exercise 04.1: tbptt_grads(rnn, head, batches, sub_seq_len).
# The reference is a bare loop over sub-windows, written here; the kit's training step and
# its own answer are switched off while the student's function runs.
import copy

import torch
from torch import nn

from tbptt_kit.checks.grading import kit_disabled


def grading_setup(seed, bs=4, win_sz=24, hidden_size=8):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    rnn, head = nn.LSTM(1, hidden_size, batch_first=True), nn.Linear(hidden_size, 1)
    batches = [(torch.randn(bs, win_sz, 1, generator=gen), torch.randn(bs, win_sz, 1, generator=gen))
               for _ in range(2)]  # fmt: skip
    return rnn, head, batches


KIT_ANSWERS = ("kit_grads", "learner_for", "split_windows", "StatefulRNN")
rnn_t, head_t, batches_t = grading_setup(0)
with kit_disabled(tbptt_grads, *KIT_ANSWERS):
    got = list(tbptt_grads(rnn_t, head_t, batches_t, 6))
assert len(got) == 6, "return one gradient per parameter: 4 of the LSTM, 2 of the head"
# --- hidden tests ---


def reference_tbptt_grads(rnn, head, batches, sub_seq_len):
    rnn, head = copy.deepcopy(rnn), copy.deepcopy(head)
    for u, y in batches:
        h = c = torch.zeros(1, u.shape[0], rnn.hidden_size)
        for start in range(0, u.shape[1], sub_seq_len):
            stop = start + sub_seq_len
            out, (h, c) = rnn(u[:, start:stop], (h, c))
            ((head(out) - y[:, start:stop]) ** 2).mean().backward()
            h, c = h.detach(), c.detach()
    return [p.grad for p in [*rnn.parameters(), *head.parameters()]]


for seed, sub_seq_len in ((0, 6), (1, 4), (2, 8), (3, 24)):
    rnn_t, head_t, batches_t = grading_setup(seed)
    want = reference_tbptt_grads(rnn_t, head_t, batches_t, sub_seq_len)
    with kit_disabled(tbptt_grads, *KIT_ANSWERS):
        got = list(tbptt_grads(rnn_t, head_t, batches_t, sub_seq_len))
    assert len(got) == len(want), "return one gradient per parameter"
    assert all(torch.allclose(g, w, rtol=1e-4, atol=1e-7) for g, w in zip(got, want)), (
        f"gradients differ for sub_seq_len={sub_seq_len}"
    )
