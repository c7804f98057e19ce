"""Rasa plug-ins: the DingTalk and Zadig input channels and the atomic Redis lock store.

Importing the package (Rasa does, to load a channel from credentials.yml) masks credentials in
every log line of the Rasa server process (`chatops.redact`).
"""

from chatops.redact import install as _mask_credentials_in_logs

_mask_credentials_in_logs()
