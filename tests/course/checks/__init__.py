"""Tests of tbptt_kit, by module and behaviour (ARCHITECTURE.md, "Tests")."""
