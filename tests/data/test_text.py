"""Character-level text (``data/text.py``): the fixed corpus, the vocabulary, stream batches
of ids with the target one character ahead, cross-entropy and bits per character, and
truncated BPTT over them by hand. Sampling from a text model: ``tests/course/test_evaluate.py``."""

import hashlib
import itertools
import math
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tbptt_kit.core.model import detach_state, reset_rows
from tbptt_kit.course.losses import bits_per_char, cross_entropy
from tbptt_kit.data.text import CORPUS, Vocab, create_dls_text, load_corpus

CORPUS_SHA256 = "aadb8a9df0d70a46c3ddaa6ede1122e835fd9eed573868228d396aeb80c05551"


def test_the_corpus_is_the_fixed_copy_of_pythons_help_topics():
    docs = load_corpus()
    assert hashlib.sha256(CORPUS.read_bytes()).hexdigest() == CORPUS_SHA256
    assert len(docs) == 79 and sum(map(len, docs)) == 464_970
    assert docs[0].startswith('The "assert" statement')


@pytest.mark.skipif(sys.version_info[:3] != (3, 11, 7), reason="the copy comes from 3.11.7")
def test_the_copy_equals_pydoc_data_topics_of_python_3_11_7():
    import pydoc_data.topics

    topics = pydoc_data.topics.topics
    assert load_corpus() == [topics[k] for k in sorted(topics)]


def test_vocab_encodes_and_decodes_and_names_unknown_characters():
    vocab = Vocab.from_text(["hello", "world"])
    assert vocab.itos == sorted("helowrd") and len(vocab) == 7
    ids = vocab.encode("hello")
    assert ids.dtype == np.int64 and vocab.decode(ids) == "hello"
    assert vocab.decode(torch.as_tensor(ids)[None]) == "hello"
    with pytest.raises(ValueError, match=r"characters \['!', 'z'\] are not in the vocabulary"):
        vocab.encode("hz!")
    with pytest.raises(ValueError, match="at least one character"):
        Vocab("")


DOCS = [
    "The quick brown fox jumps over the lazy dog. " * 3,
    "Sphinx of black quartz, judge my vow! " * 4,
    "Pack my box. " * 5,
]


def stream_text(batches, vocab, what):
    """Per row, the text of its real steps (what: 'u' or 'y'), over the epoch."""
    rows = [""] * batches[0].u.shape[0]
    for b in batches:
        mask = b.mask if b.mask is not None else torch.ones_like(b.u, dtype=torch.bool)
        for j in range(len(rows)):
            rows[j] += vocab.decode(getattr(b, what)[j][mask[j]])
    return rows


def test_text_batches_hold_ids_with_the_target_one_character_ahead():
    dls = create_dls_text(DOCS, bs=3, sub_seq_len=16, valid_frac=0.25)
    vocab, batches = dls.vocab, list(dls.valid)
    assert dls.n_u == dls.n_y == len(vocab) and dls.norm is None and dls.train.layout == "streams"
    b = batches[0]
    assert b.u.shape == b.y.shape == (3, 16) and b.u.dtype == b.y.dtype == torch.int64
    # within each row, y is u one step ahead wherever the next step is in the same document
    for i, b in enumerate(batches):
        nxt = batches[i + 1] if i + 1 < len(batches) else None
        for j in range(3):
            steps = int(b.mask[j].sum()) if b.mask is not None else 16
            assert torch.equal(b.y[j, : steps - 1], b.u[j, 1:steps])
            if steps == 16 and nxt is not None and not nxt.reset[j]:
                assert b.y[j, -1] == nxt.u[j, 0]
    # the validation part, read row after row: the last quarter of the text, in order, as
    # its two documents (the tail of DOCS[1], and DOCS[2]); each gives u less its last
    # character and y less its first
    cut = round(sum(map(len, DOCS)) * 0.75) - len(DOCS[0])
    pieces = [DOCS[1][cut:], DOCS[2]]
    assert "".join(stream_text(batches, vocab, "u")) == "".join(p[:-1] for p in pieces)
    assert "".join(stream_text(batches, vocab, "y")) == "".join(p[1:] for p in pieces)


def test_training_text_is_every_document_whole_reshuffled_each_epoch():
    dls = create_dls_text(DOCS, bs=2, sub_seq_len=8, valid_frac=0.1, seed=0)
    train_text = "".join(DOCS)[: round(sum(map(len, DOCS)) * 0.9)]
    pieces = [DOCS[0], DOCS[1], train_text[len(DOCS[0]) + len(DOCS[1]) :]]
    orders = set()
    for _ in range(6):
        u = "".join(stream_text(list(dls.train), dls.vocab, "u"))
        order = tuple(
            p for p in itertools.permutations(range(3)) if u == "".join(pieces[i][:-1] for i in p)
        )
        assert len(order) == 1  # the documents, each whole (less its last character: no target)
        orders.add(order)
    assert len(orders) > 1


def test_cross_entropy_and_bits_per_char_on_bs_t_v_and_bs_t():
    torch.manual_seed(0)
    pred, targ = torch.randn(4, 7, 11), torch.randint(0, 11, (4, 7))
    expected = F.cross_entropy(pred.transpose(1, 2), targ)
    torch.testing.assert_close(cross_entropy(pred, targ), expected)
    torch.testing.assert_close(bits_per_char(pred, targ), expected / math.log(2))
    mask = torch.rand(4, 7) > 0.4
    torch.testing.assert_close(
        cross_entropy(pred, targ, mask), F.cross_entropy(pred[mask], targ[mask])
    )
    torch.testing.assert_close(
        cross_entropy(pred[mask], targ[mask]), F.cross_entropy(pred[mask], targ[mask])
    )
    uniform = torch.zeros(2, 5, 32)
    assert bits_per_char(uniform, torch.zeros(2, 5, dtype=torch.long)).item() == pytest.approx(5.0)
    with pytest.raises(ValueError, match=r"pred \(4, 7\) must be targ's shape \(4, 7\) plus one"):
        cross_entropy(pred[..., 0], targ)
    with pytest.raises(ValueError, match="mask"):
        cross_entropy(pred, targ, mask[:, :3])


class TinyCharModel(nn.Module):
    """Embedding, LSTM, linear head: ``logits, state = model(ids, state)``."""

    def __init__(self, vocab_size, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.emb, self.rnn = nn.Embedding(vocab_size, 16), nn.LSTM(16, 32, batch_first=True)
        self.head = nn.Linear(32, vocab_size)

    def forward(self, x, state=None):
        out, state = self.rnn(self.emb(x), state)
        return self.head(out), state


def mean_bpc(model, loader, carry: bool) -> float:
    """Bits per character over ``loader``, the state carried (reset where a row's document
    starts, detached) or, with ``carry=False``, every sub-window from zeros."""
    state, bpc = None, []
    with torch.no_grad():
        for b in loader:
            state = reset_rows(state, b.reset) if carry else None
            logits, state = model(b.u, state)
            bpc.append(bits_per_char(logits, b.y, b.mask).item())
    return float(np.mean(bpc))


def test_a_char_model_learns_a_repeated_phrase_with_tbptt_over_the_streams():
    """The three lines of truncated BPTT written out over the text's stream batches: reset
    the rows whose document starts, carry the state, detach it."""
    dls = create_dls_text("hello world. " * 300, bs=8, sub_seq_len=20, valid_frac=0.2)
    model = TinyCharModel(len(dls.vocab))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        state = None
        for b in dls.train:
            state = reset_rows(state, b.reset)  # reset
            logits, state = model(b.u, state)  # carry
            state = detach_state(state)  # detach
            loss = cross_entropy(logits, b.y, b.mask)
            opt.zero_grad()
            loss.backward()
            opt.step()
    carried = mean_bpc(model, dls.valid, carry=True)
    assert carried < 0.5 < math.log2(len(dls.vocab))
    # the control: each sub-window from zeros loses the phrase's place at every boundary
    assert mean_bpc(model, dls.valid, carry=False) > 2 * carried  # measured 0.087 vs 0.027


def test_bad_text_inputs_get_clear_errors():
    with pytest.raises(ValueError, match="text is empty"):
        create_dls_text("")
    with pytest.raises(ValueError, match="text is empty"):
        create_dls_text([])
    with pytest.raises(ValueError, match=r"text\[1\] has 1 character"):
        create_dls_text(["hello", "x"], bs=1, sub_seq_len=2)
    with pytest.raises(TypeError, match="text must be a string or a list of strings, got int"):
        create_dls_text(5)
    with pytest.raises(ValueError, match=r"valid_frac must be a finite number in \(0, 1\).*got 1"):
        create_dls_text(DOCS, valid_frac=1)
    with pytest.raises(
        TypeError, match=r"valid_frac must be a finite number in \(0, 1\), got '0.1'"
    ):
        create_dls_text(DOCS, valid_frac="0.1")
    with pytest.raises(ValueError, match=r"valid_bs=16 is larger than .* valid_bs <= 3"):
        create_dls_text(DOCS, bs=16, sub_seq_len=16)
