# Exercise 1, a worked solution.
# Window k starts at sample k * stp_sz and ends at k * stp_sz + win_sz, which must not pass
# n_samples: k * stp_sz <= n_samples - win_sz, so k runs from 0 to (n_samples - win_sz) // stp_sz.
def n_windows(n_samples, win_sz, stp_sz):
    return (n_samples - win_sz) // stp_sz + 1


n_windows(50_000, 500, 10)
