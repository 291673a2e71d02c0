"""The GZSL results table: `python report.py [results.json | folder ...] [--out table.md]`.

Collects alpha2w.py's results.json files (default: every one under ckpt/alpha2w), prints a markdown table in the
paper's form (dataset, net, modality, ZSL T1, U, S, H, calibrated H, AUSUC; several runs of one setting as
mean +- std) next to published reference rows, and writes it to --out.
"""
import argparse

from utils import fileio, results_table
from utils.cli import UserError, main_guard


@main_guard
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=["ckpt/alpha2w"], help="results.json files or folders")
    parser.add_argument("--out", default="ckpt/gzsl_table.md", help="where the table is written (markdown)")
    parser.add_argument("--no-references", action="store_true", help="leave out the published reference rows")
    args = parser.parse_args(argv)
    found = results_table.find_results(args.paths)
    if not found:
        raise UserError(f"{', '.join(args.paths)}: no results.json; run alpha2w.py (or run_pipeline.sh) first")
    text = results_table.markdown(found, references=not args.no_references)
    fileio.write_text(args.out, text)
    print(text + f"\n({len(found)} runs; written to {args.out})")


if __name__ == "__main__":
    main()
