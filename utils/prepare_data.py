"""Prepare a dataset for every stage: `python -m utils.prepare_data arg_configs/prepare/<dataset>.json`."""
import argparse

from utils import config, datasets, splits
from utils.cli import main_guard


@main_guard
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("config", help="JSON preparation config (see arg_configs/prepare/)")
    args = parser.parse_args(argv)
    cfg = config.load_config(args.config, datasets.PREPARE_SCHEMA)
    info = datasets.prepare(cfg, source=args.config)
    print("\n".join(splits.summary_lines(info)))


if __name__ == "__main__":
    main()
