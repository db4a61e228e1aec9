"""The report stage's parts: inputs it reads, figures and image grids it draws, the page it writes."""
