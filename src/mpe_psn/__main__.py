import sys

from mpe_psn.cli import main

sys.exit(main())
