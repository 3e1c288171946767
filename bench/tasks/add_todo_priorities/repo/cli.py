"""Command line interface: add, done, list."""
import argparse
import sys

from todo import TodoList


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--file", default="todos.json")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add")
    add.add_argument("title")
    done = sub.add_parser("done")
    done.add_argument("index", type=int)
    sub.add_parser("list")
    args = parser.parse_args(argv)

    todos = TodoList(args.file)
    if args.command == "add":
        todos.add(args.title)
    elif args.command == "done":
        todos.complete(args.index)
    elif args.command == "list":
        for title in todos.pending():
            print(title)
    return 0


if __name__ == "__main__":
    sys.exit(main())
