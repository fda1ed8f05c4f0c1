"""Version of the torchrack core distribution and of its published hook API."""

__version__ = "0.1.0"

#: Version of the published hook specs and component contracts. Plugins declare the range they
#: support in their manifest (``"api": ">=1,<2"``). Hook arguments are only ever added within a
#: major version; a removal or a change of meaning bumps the major version.
API_VERSION = "1.0"
