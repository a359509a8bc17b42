"""`python -m kling_pipe` runs the command line."""

from kling_pipe.cli import main

main()
