"""python -m client (also `onsell`): see client/cli.py."""

from client.cli import run

if __name__ == "__main__":
    run()
