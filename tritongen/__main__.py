"""`python -m tritongen ...`: the same CLI where the console script is not installed (e.g. carried wheels)."""

from tritongen.cli import main

main()
