"""Benchmarks: each measures SIAGA against a raw baseline in the same run. The product never
imports this package; `siaga bench` does, lazily."""
