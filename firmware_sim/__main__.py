"""``python -m firmware_sim``: the simulated fleet of the devices saved in ``--state``."""

from firmware_sim.cli import main

main()
