"""The embedded lab (`inv lab.up`, ...) and the VM lab.

Importing it registers the lab's guards and fault injectors with halb (fabfile.hooks): halb
itself does not know the lab exists.
"""

from .. import hooks
from . import control, network, vagrantlab

hooks.add_reach_guard(network.guard)
hooks.add_fault_injector(control.Faults)
hooks.add_fault_injector(vagrantlab.Faults)
