"""halb: the runbook of a two-node HAProxy cluster on Pacemaker/Corosync, as code."""


def __getattr__(name):
    """`inv --search-root <site-packages> -c fabfile` finds halb's tasks here (Invoke looks for
    `ns`); importing them only when asked keeps `import fabfile.config` light."""
    if name in ("ns", "namespace"):
        from .tasks import ns
        return ns
    raise AttributeError(name)
