"""Benchmark support: a seeded synthetic corpus of daily listing dumps for scale tests."""
