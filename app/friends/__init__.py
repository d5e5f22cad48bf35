"""Friends, fields and segments: typed attributes, the filter evaluator (Python and SQL), import/export."""
