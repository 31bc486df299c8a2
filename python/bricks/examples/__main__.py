import argparse
import importlib
import sys

from . import NAMES
from .pictures import example_plots


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bricks.examples", description="The lecture's examples.")
    p.add_argument("name", nargs="?", default="all", choices=NAMES + ("all",), help="which example (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", metavar="DIR", help="write the example's pictures (PNG) into DIR (needs matplotlib)")
    args = p.parse_args(argv)
    for name in NAMES if args.name == "all" else (args.name,):
        print(f"== {name} ==")
        result = importlib.import_module(f"bricks.examples.{name}").run(seed=args.seed, verbose=True)
        if args.plot:
            for path in example_plots(name, result, args.plot):
                print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
