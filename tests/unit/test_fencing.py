"""Fence device options against the installed agent's own meta-data."""

import pytest

from fabfile import config
from fabfile.errors import UserError

from .conftest import SECRETS
from .planning import lab_cluster, plan_step, raw_facts


def test_an_option_the_installed_agent_does_not_take_is_refused_by_name(write_config):
    from fabfile.plan import fence
    path = write_config(lambda d: d["fencing"]["options"].update(lanplus_mode=1))
    cluster = config.load(path, env=SECRETS)
    facts = raw_facts(cluster, "debian12-converged")
    assert "lanplus" in facts["node1"].fence_parameters  # read from fence_ipmilan -o metadata
    with pytest.raises(UserError, match=r"fencing.options.lanplus_mode: fence_ipmilan on node1 "
                                        r"takes no such parameter \(its meta-data"):
        plan_step("fence", cluster, facts, fence.plan)
    # The lab's own options are all parameters of the agent.
    plan_step("fence", lab_cluster(), raw_facts(lab_cluster(), "debian12-converged"), fence.plan)
