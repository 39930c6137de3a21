"""Data: records, windows and the benchmark datasets."""
