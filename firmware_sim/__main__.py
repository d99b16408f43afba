"""``python -m firmware_sim``: the same as ``siaga sim``."""

import sys

from siaga.cli import main

main(["sim", *sys.argv[1:]])
