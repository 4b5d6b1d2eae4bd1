import sys

from mpe_psn.commands.cli import main

sys.exit(main())
