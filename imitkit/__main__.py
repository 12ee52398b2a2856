import sys

from imitkit.cli import main

if __name__ == "__main__":  # multiprocessing's spawn re-imports this module
    sys.exit(main())
