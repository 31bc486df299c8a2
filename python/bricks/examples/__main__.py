import argparse
import importlib
import sys

from . import NAMES


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bricks.examples", description="The lecture's examples.")
    p.add_argument("name", choices=NAMES + ("all",))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    for name in NAMES if args.name == "all" else (args.name,):
        print(f"== {name} ==")
        importlib.import_module(f"bricks.examples.{name}").run(seed=args.seed, verbose=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
