"""Data sources: where the inputs come from (NASA Earthdata, HTTP archives, demo writers)."""
