"""`halb`: halb's tasks as a program of their own, for an installed halb (pip install .).

The same tasks as `inv` in a checkout, without the labs; settings come from Invoke's files and
environment (~/.invoke.yaml or /etc/invoke.yaml under `halb:`, INVOKE_HALB_CONFIG, -f FILE).
"""

from importlib.metadata import PackageNotFoundError, version

from invoke import Program


def main():
    from .tasks import ns
    try:
        release = version("halb")
    except PackageNotFoundError:
        release = "unknown"
    Program(name="halb", binary="halb", namespace=ns, version=release).run()
