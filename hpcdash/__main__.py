"""`python -m hpcdash ...` is the same as the `hpcdash` command."""

from hpcdash.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
