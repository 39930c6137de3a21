# Exercise 1, a worked solution.
# Step j of a sub-window (j = 0 ... sub_seq_len - 1) reaches back j steps, to the start of
# its sub-window. It can learn from the input `delay` steps back only when j >= delay.
def echo_signal_fraction(delay, sub_seq_len):
    return max(sub_seq_len - delay, 0) / sub_seq_len


echo_signal_fraction(8, 4), echo_signal_fraction(8, 16)
