"""Count lines, words and characters in a file, like a tiny wc."""
import argparse
import sys


def count(text):
    return {
        "lines": len(text.splitlines()),
        "words": len(text.split()),
        "chars": len(text),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", help="file to count")
    args = parser.parse_args(argv)
    with open(args.path, encoding="utf-8") as f:
        counts = count(f.read())
    print(f"{counts['lines']} {counts['words']} {counts['chars']} {args.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
