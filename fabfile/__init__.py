"""halb: the runbook of a two-node HAProxy cluster on Pacemaker/Corosync, as code."""
