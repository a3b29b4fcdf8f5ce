import sys

from mbx.cli import main

sys.exit(main())
