"""A small application with two problems for Corral to find."""

import os
import sys


def greet(name: str) -> str:
    return   "hello " + name


def main() -> None:
    print(greet(sys.argv[1] if len(sys.argv) > 1 else "world"))
