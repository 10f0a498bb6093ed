"""The ``zhplm`` command line: argument parsing and printing only; each command calls one library function."""
