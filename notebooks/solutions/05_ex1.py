# Exercise 1, a worked solution.
# Try the divisors of win_sz from the largest (full BPTT) down; the first whose predicted
# step memory (all its parts) fits the budget is the answer. None when not even 1 fits.
from tbptt_kit.course.memory import predict_step_memory


def largest_fitting_sub_seq_len(win_sz, bs, hidden_size, budget_bytes):
    for d in sorted((d for d in range(1, win_sz + 1) if win_sz % d == 0), reverse=True):
        if sum(predict_step_memory("lstm", hidden_size, 1, bs, win_sz, d).values()) <= budget_bytes:
            return d
    return None


largest_fitting_sub_seq_len(2000, 64, 128, 256 * 2**20)
