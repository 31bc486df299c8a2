"""Graphs of blocks (filled in by the composition work)."""


class Node:
    pass


class Model:
    pass
