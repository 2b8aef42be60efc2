"""Adapters that hand the host's tools to other agent frameworks.

Each adapter lives in its own module and imports its framework only when used, behind
an extra (``jafhost.adapters.jaf`` needs ``pip install 'jafhost[jaf]'``).
"""
