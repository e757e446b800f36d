"""pgdrill: the installed name of the project's fixtures/, scenarios/ and reports/ folders.

In a checkout these links make `pgdrill.*` resolve where the code lives (for mypy, pyright, an IDE);
an install maps the same folders through pyproject's package-dir.
"""
