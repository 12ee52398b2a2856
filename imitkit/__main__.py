import sys

from imitkit.cli import main

sys.exit(main())
