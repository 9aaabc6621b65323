"""python -m client: see client/cli.py."""

import sys
from pathlib import Path

from dotenv import load_dotenv

from client.cli import main

if __name__ == "__main__":
    load_dotenv(Path.cwd() / ".env", override=False)
    sys.exit(main())
