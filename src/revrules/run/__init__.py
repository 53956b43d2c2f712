"""Reading, planning, applying and rolling back: one run of the pipeline."""
