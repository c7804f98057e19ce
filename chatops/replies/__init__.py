"""Every sentence the bot computes (fixed sentences are responses in ``domain.yml``).

Actions, the DingTalk channel, the follow-up worker and the sweeper import their wording from
here, so the whole Chinese voice of the bot can be read and changed in one place; the modules
are by topic, and everything is available as ``chatops.replies.<name>``.
"""

from chatops.replies.access import *  # noqa: F401,F403
from chatops.replies.approvals import *  # noqa: F401,F403
from chatops.replies.base import *  # noqa: F401,F403
from chatops.replies.catalog import *  # noqa: F401,F403
from chatops.replies.deploys import *  # noqa: F401,F403
from chatops.replies.locks import *  # noqa: F401,F403
from chatops.replies.operations import *  # noqa: F401,F403
from chatops.replies.results import *  # noqa: F401,F403
from chatops.replies.tasks import *  # noqa: F401,F403
