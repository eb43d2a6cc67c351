"""This checkout's Invoke collection: halb's tasks, and the labs that prove them under `lab.`.

halb's own tasks live in fabfile/tasks.py and know nothing of the labs; importing fabfile.lab
registers the labs' guards and fault injectors with halb (fabfile/hooks.py). An installed halb
without the labs uses `inv -c fabfile.tasks` or its own tasks.py importing fabfile.tasks.
"""

from fabfile.lab.tasks import ns as lab
from fabfile.tasks import ns

ns.add_collection(lab, name="lab")
