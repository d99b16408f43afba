"""Kabupaten Wonosobo reference data: boundaries, code list and seed lists (see README.md)."""
