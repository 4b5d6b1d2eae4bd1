"""The ``mpe-psn`` command line: one thin module per command, which parses its flags and calls
the rooms below (``training``, ``analysis``, ``bench``, ``data``, ``export``).

``cli`` builds the parser and runs a command (``mpe-psn`` is ``mpe_psn.commands.cli:main``);
``args`` holds the argument types and the parser class that every command shares;
``config_flags`` makes one flag per config setting. Nothing outside this package imports it,
except ``python -m mpe_psn``.
"""
