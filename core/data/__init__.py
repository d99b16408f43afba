"""Reference data shipped with SIAGA."""
