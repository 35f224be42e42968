"""Command line: ``python -m sgcourse COMMAND`` (also the ``sgcourse`` script).

Commands: ``check`` (is the environment ready?), ``lab`` (JupyterLab on the lessons),
``classroom`` (an nbgrader course directory with every lesson as an assignment),
``student-copies`` (learners' copies of the lessons, solutions stubbed by nbgrader),
``embed-widget-state`` (re-execute a lesson and save its widget state).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sgcourse", description="sgcourse: surrogate gradients for spiking neural networks.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "check", help="check that this environment can run the lessons, and say what to fix",
        description="Report Python, torch (CPU or CUDA build), JupyterLab, ipywidgets and its "
                    "JupyterLab extension, matplotlib, nbval, CUDA and Triton. Exit code 0 when "
                    "the lessons can run, 1 otherwise.")
    commands.add_parser(
        "lab", help="open JupyterLab on the lessons (lesson 01 first)",
        description="Start JupyterLab with the lessons/ folder of this clone as its root and "
                    "lesson 01 open. Any further arguments (e.g. --port 8899 --no-browser) are "
                    "passed to JupyterLab.")
    classroom = commands.add_parser(
        "classroom", help="lay out an nbgrader course directory from the lessons",
        description="Write DIR/nbgrader_config.py and DIR/source/<lesson>/<lesson>.ipynb for "
                    "every lesson, ready for `nbgrader generate_assignment <lesson>` and "
                    "`nbgrader autograde <lesson>`; then print what to run next. Needs the "
                    "classroom extra: pip install -e \".[classroom]\".")
    classroom.add_argument("directory", help="the course directory to create")
    classroom.add_argument("--force", action="store_true",
                           help="replace the config and lesson sources of an existing course "
                                "(its gradebook and submissions are kept)")
    students = commands.add_parser(
        "student-copies", help="write learners' copies of lessons (solutions stubbed out)",
        description="For each lesson, write the copy nbgrader would release: the answer between "
                    "### BEGIN SOLUTION and ### END SOLUTION replaced by a NotImplementedError "
                    "stub (signatures kept), outputs cleared. For a graded class use the "
                    "classroom command and nbgrader instead. Needs the classroom extra.")
    students.add_argument("notebooks", nargs="+", help="lesson notebooks")
    students.add_argument("--out", default="build/student",
                          help="output folder (default build/student)")
    embed = commands.add_parser(
        "embed-widget-state",
        help="execute notebooks and save their widget state, for static renders",
        description="Execute each notebook in place (like `jupyter nbconvert --execute --inplace`) "
                    "and store the state of its displayed widgets in the notebook metadata, so "
                    "that GitHub, nbviewer and JupyterLab show the widgets before anything runs.")
    embed.add_argument("notebooks", nargs="+", help="notebook files to update in place")
    embed.add_argument("--timeout", type=float, default=600.0,
                       help="seconds allowed per cell (default 600)")
    embed.add_argument("--kernel", default="python3", help="kernel name (default python3)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m sgcourse`` and of the ``sgcourse`` console script."""
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command == "check":
        from sgcourse.course.check import main as check_main

        return check_main()
    if args.command == "lab":
        from sgcourse.course.lab import main_lab

        return main_lab(unknown)
    if args.command == "classroom":
        from sgcourse.course.classroom import main_classroom

        return main_classroom(args.directory, force=args.force)
    if args.command == "student-copies":
        from sgcourse.course.classroom import main_student_copies

        return main_student_copies(args.notebooks, args.out)
    if args.command == "embed-widget-state":
        from sgcourse.course.notebook_tools import main_embed

        return main_embed(args.notebooks, timeout=args.timeout, kernel_name=args.kernel)
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
